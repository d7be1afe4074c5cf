"""Privacy promises of single firmware modules, run in the MicroPython Unix port (the board's
own interpreter) with a fake hardware layer: fast, so the mutation campaign (docs/mutation.md)
runs them against every mutant of these modules. The same promises are checked end to end on
the virtual board in tests/test_promise_board.py."""

import json

from host_tools.link.protocol import (T_SESSION_CHUNK, T_SESSION_CLOSE, T_SESSION_HEADER,
                                      FrameParser)
from host_tools.records import sessions
from host_tools.records.translog import read_log
from tests.mpy import run_mpy

KEY_HEX = bytes(range(32)).hex()

# Forwarding with everything real but the serial line (a list of frames) and the clock.
FORWARDER = r"""
import binascii, json
from earshot import proto
from earshot.consent import Consent, PRESETS
from earshot.forward import Forwarder
from earshot.ring import Ring
from earshot.session import SessionSigner
from earshot.translog import TransparencyLog
sent = []
def write(mv):
    sent.append(bytes(mv))
d = %r
def forwarder():
    log = TransparencyLog(d + "/log.txt", 64)
    f = Forwarder(proto.FrameWriter(write), log, d + "/counter.json", lambda n: bytes(n))
    f.set_signer(SessionSigner(binascii.unhexlify(%r), "dev"))
    return f, log
def consent(name):
    return Consent(dict(PRESETS)[name])
def frame(i):
    return bytes([(i * 7 + j) & 255 for j in range(640)])
"""


def records(hexes):
    """Session records (header, chunk, close) in the frames the board wrote, in order."""
    parser = FrameParser()
    frames = [f for h in hexes for f in parser.feed(bytes.fromhex(h))]
    return [f.payload for f in frames
            if f.type in (T_SESSION_HEADER, T_SESSION_CHUNK, T_SESSION_CLOSE)]


def test_audio_queued_at_mute_is_discarded(tmp_path):
    """Seven frames heard into a session: one whole chunk (five frames) left as they came,
    two frames wait for the next chunk. A mute ends the session there: the two waiting frames
    never leave, on the line or in the close record's count. The control: ending at the end
    of speech sends them."""
    out = run_mpy(FORWARDER % (str(tmp_path), KEY_HEX) + r"""
from earshot.stream import CHUNK_BYTES
res = {}
for reason in ("mute", "speech_end"):
    f, log = forwarder()
    ring = Ring(16000)
    f.open("ptt", 1000, consent("assistant"), ring)
    for i in range(7):
        f.add(frame(i))
        f.pump(True)
    before = len(sent)
    summary = f.close(reason, 2000)
    res[reason] = {"bytes": summary["bytes"], "after": [binascii.hexlify(x).decode()
                                                        for x in sent[before:]],
                   "ring": ring.filled, "zero": not any(ring.buf)}
    del sent[:]
print(json.dumps(res))
""")
    res = json.loads(out)
    muted = res["mute"]
    assert muted["bytes"] == 3200, "audio queued when the mute came was sent"
    after = records(muted["after"])
    assert [r[0] for r in after] == [sessions.CLOSE], "audio left after the mute"
    assert muted["ring"] == 0 and muted["zero"], "the queued audio stays in RAM"
    assert res["speech_end"]["bytes"] == 7 * 640  # the control: everything heard goes out
    assert [r[0] for r in records(res["speech_end"]["after"])] == [sessions.CHUNK, sessions.CLOSE]


def test_each_session_header_chains_to_the_one_before_even_across_a_restart(tmp_path):
    out = run_mpy(FORWARDER % (str(tmp_path), KEY_HEX) + r"""
for run in range(2):   # the second Forwarder reopens the log: the board restarted
    f, log = forwarder()
    for s in range(2):
        f.open("ptt", 1000 * s, consent("assistant"), Ring(16000))
        f.add(frame(s)); f.close("speech_end", 1000 * s + 500)
print(json.dumps([binascii.hexlify(x).decode() for x in sent]))
""")
    recs = records(json.loads(out))
    headers = [sessions.parse_record(r) for r in recs if r[0] == sessions.HEADER]
    assert [h.counter for h in headers] == [1, 2, 3, 4]
    assert headers[0].prev == sessions.ZERO_TAG
    for before, h in zip(headers, headers[1:]):
        assert h.prev == before.tag, "counter %d does not chain to %d" % (h.counter,
                                                                          before.counter)
    result = sessions.verify_stream(recs, bytes(range(32)))
    assert result.ok and len(result.sessions) == 4, result.failure
    # A receiver sees a whole session missing, thanks to the chain.
    cut = [r for r in recs]
    ends = [i for i, r in enumerate(cut) if r[0] == sessions.CLOSE]
    missing = cut[: ends[0] + 1] + cut[ends[1] + 1 :]
    assert sessions.verify_stream(missing, bytes(range(32))).failure.reason == "dropped"


def test_a_compacted_log_keeps_the_highest_counter_in_its_anchor(tmp_path):
    """Once every session entry has been dropped, the anchor alone says how high counters got:
    with the counter file lost the next counter is still above every one that left."""
    d = str(tmp_path)
    out = run_mpy("""
import os
from earshot import store
from earshot.translog import TransparencyLog
d = %r
log = TransparencyLog(d + '/log.txt', 16)
for c in range(1, 8):
    log.session(c, bytes(8), c, 0, 10, 320, 1, bytes(32))
for i in range(40):   # then only mute entries: the sessions' entries are all dropped
    log.mute(100 + i, i %% 2 == 0, 'button')
os.remove(d + '/counter.json') if 'counter.json' in os.listdir(d) else None
log = TransparencyLog(d + '/log.txt', 16)   # as read at the next boot
print(log.max_counter(), store.next_counter(d + '/counter.json', log.max_counter()))
""" % d)
    top, nxt = out.split()
    res = read_log(tmp_path / "log.txt")
    assert res.ok and res.anchor is not None
    assert not [e for e in res.entries if e.kind == "session"]  # the premise: all dropped
    assert res.anchor_counter == 7
    assert (int(top), int(nxt)) == (7, 8)


# -- the boot gesture: only both buttons unlock -------------------------------------------------

GESTURE = r"""
import os
from earshot import access
class Hw:
    def __init__(self, mask, test_mode):
        self.board = {"id": "fake", "test_mode": test_mode}
        self.mask = mask
        self.t = 0
    def read_frame(self, buf):
        self.t += 20
    def buttons(self): return self.mask
    def ticks_ms(self): return self.t
    def ticks_diff(self, a, b): return a - b
    def set_status_led(self, r, g, b): pass
out = []
for locked in (True, False):
    for mask in (0, 1, 2, 3):
        d = %r + "/%%d%%d" %% (locked, mask)
        a = access.decide(Hw(mask, True), bytearray(640), 1, d, locked_build=locked)
        out.append([locked, mask, a.mode, a.test_mode, a.gesture])
access.console(True)
import json
print(json.dumps(out))
"""


def test_only_both_buttons_at_boot_unlock(tmp_path):
    """Every combination of buttons held while a board starts: a locked build unlocks only
    with both (mute 1, action 2); nothing else changes its mode; test mode only on a developer
    build with action alone."""
    out = run_mpy(GESTURE % str(tmp_path))
    rows = json.loads(out)
    seen = {(locked, mask): (mode, test, gesture) for locked, mask, mode, test, gesture in rows}
    assert seen == {
        (True, 0): ("locked", False, 0),
        (True, 1): ("locked", False, 1),
        (True, 2): ("locked", False, 2),
        (True, 3): ("unlocked", False, 3),
        (False, 0): ("developer", False, 0),
        (False, 1): ("developer", False, 1),
        (False, 2): ("developer", True, 2),
        (False, 3): ("developer", False, 3),
    }


# -- the mute interlock: buffers zeroed, order of mic and LED ------------------------------------

MUTE = r"""
from earshot.mute import MuteInterlock
from earshot.ring import Ring
calls = []
class Hw:
    def __init__(self, switch=False): self.switch = switch
    def hardware_muted(self): return self.switch
    def mic_stop(self): calls.append("mic_stop")
    def mic_start(self): calls.append("mic_start")
    def set_mute_led(self, on):
        calls.append("led_on" if on else "led_off")
        if on:   # when the LED lights, every buffer must already be silent
            calls.append("buffers_zero" if not any(frame) and not any(ring.buf)
                         and ring.filled == 0 else "buffers_hold_audio")
    def fail_safe(self): self.mic_stop(); self.set_mute_led(True)
frame = bytearray(b"\x55" * 640)
ring = Ring(16000)
changes = []
m = MuteInterlock(Hw(), (frame, ring), lambda muted, source: changes.append((muted, source)))
print(m.apply(False, "button"))
ring.push(bytes(b"\x77" * 640) * 10)
for i in range(640): frame[i] = 0x33
print(m.apply(True, "button"))
print(calls)
print(changes)
del calls[:]
sw = MuteInterlock(Hw(switch=True), (frame, ring), lambda muted, source: changes.append(1))
print(sw.apply(False, "restore"), sw.muted, calls)
"""


def test_mute_stops_the_mic_then_zeroes_every_buffer_then_lights_the_led():
    out = run_mpy(MUTE).splitlines()
    assert out[0] == "True" and out[1] == "True"
    assert out[2] == str(["led_off", "mic_start", "mic_stop", "led_on", "buffers_zero"]), out[2]
    assert out[3] == str([(False, "button"), (True, "button")])
    # A latched mute switch at "mute" wins over any unmute, a power-on restore included.
    refused, muted, calls = out[4].split(" ", 2)
    assert (refused, muted) == ("False", "True") and "mic_start" not in calls


# -- point 7: a session ends at its limits, to the frame -----------------------------------------

def test_a_session_ends_at_its_limits_to_the_frame():
    """Frames every 20 ms from the open: nobody speaks -> ends at exactly 3 s; speech then
    silence -> 0.8 s after the last speech; endless speech -> at exactly 10 s. Not a frame
    later, not a frame earlier; and across the ticks wrap the same."""
    out = run_mpy(r"""
from earshot.gate import Gate, NO_SPEECH_MS, END_SILENCE_MS, MAX_SESSION_MS
def diff(a, b): return ((a - b + 0x20000000) & 0x3FFFFFFF) - 0x20000000
def end(start, speech_until):
    g = Gate(lambda *a: None, diff)
    g.open(start, "ptt")
    t = 0
    while True:
        t += 20
        r = g.should_close((start + t) & 0x3FFFFFFF, t <= speech_until)
        if r:
            return [t, r]
print([end(s, u) for s in (0, 0x3FFFFFFF - 1000) for u in (-1, 1000, 20000)])
print(NO_SPEECH_MS, END_SILENCE_MS, MAX_SESSION_MS)
""")
    ends, limits = out.splitlines()
    assert limits == "3000 800 10000"
    once = [[3000, "speech_end"], [1800, "speech_end"], [10000, "max_length"]]
    assert json.loads(ends.replace("'", '"')) == once + once


def test_the_boot_gesture_counts_only_an_unchanged_hold_of_two_seconds_and_says_so(tmp_path):
    """The status LED turns white while a boot gesture is held ("keep holding") and dark when
    the hold changes; a hold that changes (a button let go, another pressed) is no gesture,
    so a locked board stays locked; two seconds unchanged is one."""
    out = run_mpy(r"""
import json
from earshot import access
class Hw:
    def __init__(self, masks):
        self.board = {"id": "fake"}
        self.masks = masks   # (from ms, mask) steps
        self.t = 0
        self.leds = []
    def read_frame(self, buf):
        self.t += 20
    def buttons(self):
        m = 0
        for since, mask in self.masks:
            if self.t >= since:
                m = mask
        return m
    def ticks_ms(self): return self.t
    def ticks_diff(self, a, b): return a - b
    def set_status_led(self, r, g, b): self.leds.append((r, g, b))
out = []
for masks in ([(0, 3)], [(0, 3), (1500, 1)], [(0, 1), (600, 3)], [(0, 3), (1990, 0)], [(0, 0)]):
    hw = Hw(masks)
    g = access.boot_gesture(hw, bytearray(640))
    out.append([g, hw.leds, hw.t])
access.console(True)
print(json.dumps(out))
""")
    white, dark = [255, 255, 255], [0, 0, 0]
    rows = json.loads(out)
    assert rows[0][0] == 3 and rows[0][1] == [white] and rows[0][2] >= 2000
    assert rows[1][:2] == [0, [white, dark]]  # let go of one button
    assert rows[2][:2] == [0, [white, dark]]  # pressed another one
    assert rows[3][:2] == [0, [white, dark]]  # let go 10 ms early
    assert rows[4][:2] == [0, []]


def test_test_mode_is_armed_at_the_board_and_never_survives_a_power_on(tmp_path):
    """Test mode (the host's audio replaces the microphone) starts only with action held while
    the board starts, lasts across other resets, and is gone after any power-on."""
    out = run_mpy(r"""
import json
from earshot import access
class Hw:
    def __init__(self, mask):
        self.board = {"id": "fake", "test_mode": True}
        self.mask = mask
        self.t = 0
    def read_frame(self, buf): self.t += 20
    def buttons(self): return self.mask
    def ticks_ms(self): return self.t
    def ticks_diff(self, a, b): return a - b
    def set_status_led(self, r, g, b): pass
d = %r
out = []
for mask, cause in ((0, 1), (2, 1), (0, 5), (0, 3), (0, 1), (0, 5)):   # 1 power-on, 5 soft, 3 wdt
    a = access.decide(Hw(mask), bytearray(640), cause, d)
    out.append(a.test_mode)
access.console(True)
print(json.dumps(out))
""" % str(tmp_path))
    assert json.loads(out) == [False, True, True, True, False, False]


def test_consent_flags_are_named_and_restored_exactly():
    out = run_mpy(r"""
import json
from earshot.consent import Consent, flag_names, FLAG_NAMES
print(json.dumps([[flag_names(1 << i) for i in range(5)], flag_names(31), flag_names(0),
                  [Consent.from_state(s).state_dict() for s in
                   ({"flags": 5}, {"flags": 3, "guest": True}, {"flags": "x"}, None)]]))
""")
    names, every, none, states = json.loads(out)
    assert names == [["cloud"], ["human_review"], ["retain"], ["training"], ["preroll"]]
    assert every == ["cloud", "human_review", "retain", "training", "preroll"] and none == []
    assert states == [{"flags": 5, "guest": False}, {"flags": 3, "guest": True},
                      {"flags": 0, "guest": False}, {"flags": 0, "guest": False}]


def test_a_log_anchored_in_the_older_format_reopens_and_keeps_chaining(tmp_path):
    """Logs compacted before anchors carried a counter ("A <seq> <hash>") still open: the chain
    continues from the anchor and the host verifies it."""
    import hashlib

    prev = hashlib.sha256(b"old anchor").digest()
    text = b"A 7 " + prev.hex().encode() + b"\n"
    for seq in (8, 9):
        body = json.dumps({"seq": seq, "t": seq, "k": "mute",
                           "f": {"muted": True, "source": "button"}}).encode()
        prev = hashlib.sha256(prev + body).digest()
        text += prev.hex().encode() + b" " + body + b"\n"
    (tmp_path / "log.txt").write_bytes(text)
    out = run_mpy("""
from earshot.translog import TransparencyLog
log = TransparencyLog(%r, 64)
print(len(log), log.head()[0], log.max_counter())
log.mute(100, False, 'button')
print(len(log), log.head()[0])
""" % str(tmp_path / "log.txt"))
    assert out.split() == ["2", "9", "0", "3", "10"]
    res = read_log(tmp_path / "log.txt")
    assert res.ok and res.anchor[0] == 7 and [e.seq for e in res.entries] == [8, 9, 10]


def test_the_board_signs_only_the_end_reasons_it_knows():
    out = run_mpy(r"""
import binascii
from earshot.session import SessionSigner
out = []
for reason in ("nonsense", 0, 256, -1, "mute", 255):
    s = SessionSigner(bytes(range(32)), "dev")
    s.open(bytes(8), 1, "ptt", 1, 0)
    try:
        s.close(reason)
        out.append("signed")
    except ValueError:
        out.append("refused")
print(out)
""")
    assert out.strip() == str(["refused", "refused", "refused", "refused", "signed", "signed"])
