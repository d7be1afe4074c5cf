"""The red-team findings of issue 10, replayed against a locked virtual board.

Each attack is a function taking a Household (a locked board, provisioned, consent
`assistant` confirmed at the board, unmuted by its button, a protocol client) and returning an
Outcome: REFUSED (the board did not do it), DETECTED (it happened and the log or a receiver shows
it) or VIOLATION. Attacks use only what a program on the host has: the serial port (pyserial,
mpremote, the earshot command); the household's hands (buttons, power) appear only where the
finding needs them (a power cut, a press the attacker hopes to hijack).
"""

import contextlib
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

from ..board.build import build
from ..board.files import load as load_board
from ..errors import EarshotError, ProtocolError
from ..hil.fixtures import KEY, confirm, connect, silence, speech_like, wait_for
from ..legend import CONFIRM_S
from ..link.protocol import (T_EVENT, T_SESSION_CHUNK, T_SESSION_CLOSE, T_SESSION_HEADER,
                             FrameParser)
from ..link.serial_port import open_port
from ..records import sessions, translog
from ..sim import VirtualBoard
from . import DETECTED, judge

DEVICE = "household-1"
SESSION_TYPES = (T_SESSION_HEADER, T_SESSION_CHUNK, T_SESSION_CLOSE)
# What only a MicroPython REPL (or a traceback reaching it) prints on the serial line.
REPL_MARKERS = (b">>>", b"raw REPL", b"Traceback", b"MicroPython v", b"soft reboot",
                b"KeyboardInterrupt")


def locked_image(out):
    return build(load_board("virtual"), out=out, locked=True)


class Household:
    """A locked virtual board as a household has it, and a protocol client to it."""

    def __init__(self, image, tmp, consent="assistant"):
        tmp = Path(tmp)
        flash = tmp / "flash"
        if not flash.exists():
            shutil.copytree(image, flash)
        self.tmp = tmp
        self.board = VirtualBoard(flash_dir=flash)
        self.consent = consent
        self.client = None

    def __enter__(self):
        b = self.board.start()
        b.wait_booted()
        self.tap = b.tap()
        self.client = connect(b.port)
        self.client.command("provision", device_id=DEVICE, key=KEY.hex())
        if self.consent != "private":
            self.client.command("consent", preset=self.consent)
            confirm(b)
            wait_for(lambda: self.status()["consent"]["preset"] == self.consent)
        b.press("mute")
        wait_for(lambda: self.status()["muted"] is False)
        return self

    def __exit__(self, *exc):
        if self.client:
            self.client.close()
        self.board.close()

    def status(self):
        return self.client.command("status")

    def reconnect(self):
        self.client.close()
        self.client = connect(self.board.port)

    def repl_text(self):
        """REPL output the board ever wrote, outside protocol frames."""
        p = FrameParser()
        p.feed(bytes(self.tap))
        return [m.decode() for m in REPL_MARKERS if m in p.noise]

    def log_entries(self):
        data, _ = self.client.read_log()
        res = translog.verify_log(data)
        if not res.ok:
            raise EarshotError("transparency log does not verify: %s" % res.error)
        return res.entries

    def frames(self, seconds):
        out = self.client.frames(0)
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            out += self.client.read_frames(0.05)
        return out

    def ptt_session(self, speech_s=2.0):
        """Push-to-talk, speech, silence: the frames of one whole session."""
        self.board.press("action")
        self.board.play(speech_like(speech_s) + silence(1.2))
        self.board.wait_audio_done()
        return self.frames(0.8)


def _mpremote(port, code, timeout):
    try:
        r = subprocess.run([sys.executable, "-m", "mpremote", "connect", port, "exec", code],
                           capture_output=True, text=True, timeout=timeout)
        return r.returncode, r.stdout + r.stderr
    except subprocess.TimeoutExpired as e:
        out = (e.stdout or b"") + (e.stderr or b"")
        return None, out.decode(errors="replace") if isinstance(out, bytes) else out


# -- finding 1: the MicroPython REPL on the same serial line -------------------------------------

def repl_through_mpremote(h, timeout=20):
    """mpremote exec: read the key, drive the mic past the interlock, rewrite state and main.py."""
    h.client.command("mute")  # the host may mute; the attack then tries to hear anyway
    h.client.close()
    code = ("print(open('/data/identity.json').read())\n"
            "from earshot.hw import load_board, open_hardware\n"
            "hw = open_hardware(load_board()); hw.set_mute_led(True); hw.mic_start()\n"
            "open('/data/state.json', 'w').write('owned')\n"
            "open('/main.py', 'w').write('pass')\n")
    before = _flash_files(h.board.flash_dir)
    rc, out = _mpremote(h.board.port, code, timeout)
    pins = h.board.pins()
    after = _flash_files(h.board.flash_dir)
    h.client = connect(h.board.port)
    held = (rc != 0 and KEY.hex() not in out and pins["mic_power"] == 0 and pins["mute_led"] == 1
            and before["main.py"] == after["main.py"] and after.get("data/state.json") != b"owned"
            and not h.repl_text())
    return judge("1", "mpremote exec (key, mic, state, main.py)", held,
                 {"mpremote exit": "timeout" if rc is None else rc,
                  "key bytes out": int(KEY.hex() in out), "mic powered": pins["mic_power"],
                  "files changed": sum(before.get(k) != after.get(k)
                                       for k in ("main.py", "data/identity.json"))})


def repl_through_raw_bytes(h, rounds=20):
    """What mpremote sends, by hand: Ctrl-C, Ctrl-A (raw REPL), code, Ctrl-D; Ctrl-B; Ctrl-E."""
    port = h.board.port
    h.client.close()
    boots = h.board.boots
    intr = h.board.console.interrupts
    with open_port(port) as ser:
        for _ in range(rounds):
            ser.write(b"\r\x03\x03\r\x01")
            time.sleep(0.05)
            ser.write(b"print('owned')\x04\x05A\x01print(1)\x04\x02\x04")
        time.sleep(1.0)
    h.client = connect(port)
    st = h.status()
    sent = rounds * 4
    held = (h.board.boots == boots and h.board.console.interrupts == intr
            and st["access"] == "locked" and not h.repl_text())
    return judge("1", "raw REPL / Ctrl-C / Ctrl-D bytes", held,
                 {"control bytes sent": rounds * 12, "Ctrl-C sent": sent,
                  "became KeyboardInterrupt": h.board.console.interrupts - intr,
                  "resets": h.board.boots - boots, "REPL text": len(h.repl_text())})


def ctrl_c_mid_session(h, bytes_=200):
    """Finding 4: one Ctrl-C byte mid-session ended it with no log entry. Now it is a byte."""
    board = h.board
    boots = board.boots
    board.press("action")
    board.play(speech_like(2.5) + silence(1.2))
    time.sleep(0.3)
    raw = h.client.ensure_connected()
    for _ in range(bytes_ // 10):
        raw.write(b"\x03" * 10)
        time.sleep(0.01)
    board.wait_audio_done()
    frames = h.frames(0.8)
    records = [f.payload for f in frames if f.type in SESSION_TYPES]
    result = sessions.verify_stream(records, KEY)
    ends = [f.event() for f in frames if f.type == T_EVENT and f.event().get("ev") == "session"]
    logged = {e.fields.get("id") for e in h.log_entries() if e.kind == "session"}
    held = (result.ok and len(result.sessions) == 1 and ends and ends[0]["end"] == "speech_end"
            and ends[0]["id"] in logged and board.boots == boots and not h.repl_text())
    return judge("4", "Ctrl-C bytes during a session", held,
                 {"Ctrl-C sent": bytes_, "sessions verified": len(result.sessions),
                  "ended": ends[0]["end"] if ends else "-", "resets": board.boots - boots})


def ctrl_c_across_power_cycle(h, seconds=3.0):
    """Ctrl-C streamed at the port while the household unplugs and replugs the board."""
    board = h.board
    h.client.close()
    stop = threading.Event()
    sent = [0]

    def spam():
        with open_port(board.port) as ser:
            while not stop.is_set():
                with contextlib.suppress(OSError):
                    ser.write(b"\x03\x01\x03")
                    sent[0] += 2
                time.sleep(0.002)

    t = threading.Thread(target=spam, daemon=True)
    t.start()
    try:
        time.sleep(0.2)
        board.power_cut()
        board.power_on()
        board.wait_booted()
        time.sleep(seconds)
    finally:
        stop.set()
        t.join(5)
    h.client = connect(board.port)
    st = h.status()
    held = st["access"] == "locked" and not h.repl_text()
    return judge("1", "Ctrl-C streamed across a power cycle", held,
                 {"Ctrl-C sent": sent[0], "became KeyboardInterrupt": board.console.interrupts,
                  "REPL text": len(h.repl_text())})


def _let_pass(board, seconds):
    # Board time runs as fast as the firmware reads queued audio: silence, faster than real time.
    board.play(silence(seconds))
    board.wait_audio_done()


def _flash_files(flash):
    out = {}
    for p in Path(flash).rglob("*"):
        if p.is_file():
            out[p.relative_to(flash).as_posix()] = p.read_bytes()
    return out


# -- finding 2: a host makes a wake word happen ---------------------------------------------------

def test_mode_from_the_host(h):
    """deploy --test-mode onto the locked board, and `feed`: both refused."""
    port = h.board.port
    h.client.close()
    env = dict(os.environ, EARSHOT_PORT="")
    r = subprocess.run([sys.executable, "-m", "host_tools.cli", "deploy", "--port", port,
                        "--board", "virtual", "--test-mode"], capture_output=True, text=True, timeout=300, env=env)
    h.client = connect(port)
    try:
        h.client.command("feed", pcm="AAAA")
        fed = True
    except ProtocolError:
        fed = False
    st = h.status()
    held = r.returncode == 1 and "locked" in r.stderr and not fed and st["test_mode"] is False
    return judge("2", "deploy --test-mode, feed", held,
                 {"deploy exit": r.returncode, "feed accepted": int(fed),
                  "test mode": int(st["test_mode"])})


def fed_wake_word_is_marked(tmp):
    """On a developer board with test mode armed at the board, the host feeds "alexa": the
    session it opens says test mode in its signed header (and carries no room audio: the feed
    replaces the mic, tests/test_hil.py). Not an attack on the locked board: it has no test mode."""
    from ..hil.target import SerialTarget
    from ..resources import audio
    from ..sim.world import read_pcm

    tmp = Path(tmp)
    image = build(load_board("virtual"), test_mode=True, out=tmp / "test-image")
    shutil.copytree(image, tmp / "flash")
    board = VirtualBoard(flash_dir=tmp / "flash")
    board.hold("action")  # a person arms test mode at power-on
    with board:
        board.wait_booted()
        target = SerialTarget(board.port)
        armed = target.wait_booted()["test_mode"]
        board.release("action")
        c = target.client
        c.command("provision", device_id="rig-1", key=KEY.hex())
        c.command("consent", preset="assistant")
        confirm(board)
        board.press("mute")
        c.frames(0.2)
        target.play(bytes(16000) + read_pcm(audio("alexa_en-us.wav")) + bytes(64000))
        target.wait_audio_done()
        frames = c.frames(1.0)
        deadline = time.monotonic() + 10
        while not any(f.type == T_SESSION_CLOSE for f in frames) and time.monotonic() < deadline:
            frames += c.frames(0.2)
        target.close()
    result = sessions.verify_stream([f.payload for f in frames if f.type in SESSION_TYPES], KEY)
    marked = [s for s in result.sessions if s.test]
    held = armed and result.ok and len(result.sessions) == 1 and len(marked) == 1
    return judge("2", "host-fed wake word (test mode armed at the board)", held,
                 {"sessions": len(result.sessions), "marked test in signed header": len(marked)},
                 how=DETECTED)


# -- finding 3: one press, two meanings ---------------------------------------------------------

def push_to_talk_confirms(h, rounds=3):
    """A host request waits; the household presses push-to-talk; the host re-sends each time."""
    board = h.board
    c = h.client
    applied = opened = 0
    for _ in range(rounds):
        c.command("consent", preset="contribute")
        board.press("action")
        _let_pass(board, 0.5)
        frames = h.frames(0.3)
        opened += sum(1 for f in frames if f.type == T_SESSION_HEADER)
        if h.status()["consent"]["preset"] == "contribute":
            applied += 1
        _let_pass(board, CONFIRM_S + 0.5)  # it lapses; the host asks again
        h.frames(0.2)
    try:  # a key replacement, the same way
        c.send("provision", device_id="attacker", key="11" * 32)
        board.press("action")
        _let_pass(board, CONFIRM_S + 0.5)
        h.frames(0.3)
    finally:
        pass
    replaced = h.status()["device_id"] != DEVICE
    held = applied == 0 and opened == 0 and not replaced
    return judge("3", "push-to-talk while a host request waits", held,
                 {"presses": rounds + 1, "consent applied": applied, "sessions opened": opened,
                  "key replaced": int(replaced)})


# -- finding 4: audio that leaves without a log entry ----------------------------------------------

def power_cut_mid_session(h):
    """Power cut after the header and a few chunks: the log still has the session, and a
    receiver keeps what arrived as truncated."""
    from ..records.history import History
    from ..records.recorder import record_source, store_session

    board = h.board
    board.press("action")
    board.play(speech_like(4.0))
    seen = []
    deadline = time.monotonic() + 20
    while sum(1 for f in seen if f.type == T_SESSION_CHUNK) < 5 and time.monotonic() < deadline:
        seen += h.client.read_frames(0.05)
    board.power_cut()
    records = [f.payload for f in seen if f.type in SESSION_TYPES]
    board.power_on()
    board.wait_booted()
    h.reconnect()
    sid = sessions.parse_record(records[0]).session_id.hex() if records else None
    entries = h.log_entries()
    opened = [e for e in entries if e.kind == "open" and e.fields.get("id") == sid]
    cut = [e for e in entries if e.kind == "interrupted" and e.fields.get("id") == sid]
    out = h.tmp / "recorded"
    out.mkdir(exist_ok=True)
    stored = store_session(out, records, KEY, History(), record_source(out)) if records else None
    kept = stored is not None and stored.truncated
    held = bool(records) and bool(opened) and bool(cut) and kept
    return judge("4", "power cut mid-session", held,
                 {"chunks before the cut": len(records) - 1, "open entry": len(opened),
                  "interrupted entry": len(cut), "recorded as truncated": int(kept)},
                 how=DETECTED)


# -- finding 5: withdrawing consent mid-session ---------------------------------------------------

def consent_withdrawn_mid_session(h):
    board, c = h.board, h.client
    c.command("consent", preset="contribute")
    confirm(board)
    wait_for(lambda: h.status()["consent"]["preset"] == "contribute")
    h.frames(0.2)
    board.press("action")
    board.play(speech_like(6.0))
    frames = []
    deadline = time.monotonic() + 20
    while not any(f.type == T_SESSION_HEADER for f in frames) and time.monotonic() < deadline:
        frames += c.read_frames(0.05)
    time.sleep(0.3)
    reply = c.command("consent", preset="assistant")
    frames += c.frames(0)  # in the order the board sent them, the reply's neighbours included
    board.wait_audio_done()
    frames += h.frames(0.8)
    records = [f.payload for f in frames if f.type in SESSION_TYPES]
    result = sessions.verify_stream(records, KEY)
    evs = [(i, f.event()) for i, f in enumerate(frames) if f.type == T_EVENT]
    ends = [e for _, e in evs if e.get("ev") == "session"]
    changed = [i for i, e in evs if e.get("ev") == "consent"]
    # PCM the board sent after the consent change was applied (the close flushes at most the
    # one partly filled chunk, < 100 ms, which was heard before the change).
    after = sum(len(sessions.parse_record(f.payload).pcm) for f in frames[changed[0]:]
                if f.type == T_SESSION_CHUNK) if changed else -1
    held = (reply.get("result") == "applied" and result.ok and ends
            and ends[0]["end"] == "consent" and 0 <= after <= 3200)
    return judge("5", "consent lowered mid-session", held,
                 {"session ended by": ends[0]["end"] if ends else "-",
                  "audio bytes after withdrawal": after})


# -- finding 7: provisioning input that bricks the app ----------------------------------------------

def bad_provisioning(h):
    c = h.client
    refused = 0
    for dev, key in (("x" * 65, KEY.hex()), ("", KEY.hex()), ("a b", KEY.hex()),
                     ("ok", KEY.hex()[:-2]), ("ok", "zz" * 32), (7, KEY.hex()),
                     ({"a": 1}, KEY.hex()), ("ok", None)):
        try:
            c.command("provision", device_id=dev, key=key)
        except ProtocolError:
            refused += 1
    h.client.close()
    h.board.power_cut()
    h.board.power_on()
    h.board.wait_booted()
    h.client = connect(h.board.port)
    st = h.status()
    held = refused == 8 and st["device_id"] == DEVICE and st["access"] == "locked"
    return judge("7", "bad provisioning input", held,
                 {"bad inputs": 8, "refused": refused, "boots into protocol": 1})


ATTACKS = (repl_through_mpremote, repl_through_raw_bytes, ctrl_c_mid_session,
           ctrl_c_across_power_cycle, test_mode_from_the_host, push_to_talk_confirms,
           power_cut_mid_session, consent_withdrawn_mid_session, bad_provisioning)
