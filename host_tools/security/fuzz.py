"""A protocol fuzz campaign against a locked, provisioned, muted board with consent `private`.

Inputs are lines (what the board's CommandReader splits on): random bytes, control-character
bursts (Ctrl-C, Ctrl-D, Ctrl-A, Ctrl-E: the REPL's keys), over-long lines, frames with a bad
checksum, version or JSON, and well-framed commands with random names and arguments of every JSON
type. A host may make the board more private (mute, consent private, guest on), so those can
happen; nothing else may:

  - no reset, no KeyboardInterrupt, no REPL text on the line
  - the mic stays unpowered and the mute LED lit (checked on the pins as it runs)
  - no session frame; consent never gains a flag; the identity never changes
  - the board answers every input line (one reply or error each) and still speaks the protocol
  - the transparency log verifies, and holds only entries a host is allowed to cause
"""

import json
import random
import time
import zlib

from ..link.protocol import T_EVENT, T_SESSION_CHUNK, T_SESSION_CLOSE, T_SESSION_HEADER
from ..records import translog
from . import judge

NAMES = ("hello", "status", "mute", "unmute", "stop", "consent", "cancel", "log", "provision",
         "feed", "play", "bootloader", "exec", "reset", "", "CONSENT", "status\x00")
FIELDS = ("preset", "guest", "device_id", "key", "pcm", "cmd", "flags", "seconds", "end",
          "cancel", "x", "re", "by")
PRESETS = ("private", "assistant", "history", "contribute", "guest", "custom", "", 31, -1)
ALLOWED_LOG_KINDS = {"consent", "mute"}  # what a host may cause: only more privacy
# ... and the life of a request it made (asked, cancelled, expired, refused): changes nothing
REQUEST_LOG_KIND = "request"

# The inputs' command numbers: above the 1..999999 a Client numbers its own commands from (a
# late answer to an input is then never taken for the campaign's own status or log).
FUZZ_SEQ = 1_000_000


def _value(rng, depth=0):
    kind = rng.randrange(10 if depth < 3 else 7)
    if kind == 0:
        return rng.choice(PRESETS)
    if kind == 1:
        return rng.randint(-2**70, 2**70) if rng.random() < 0.2 else rng.randint(-5, 300)
    if kind == 2:
        return rng.random() * 10 ** rng.randint(-5, 30)
    if kind == 3:
        return rng.choice((True, False, None))
    if kind == 4:
        return "".join(chr(rng.choice((rng.randint(0, 127), rng.randint(128, 0x10FFFF))))
                       for _ in range(rng.randint(0, 80))).replace("\ud800", "")
    if kind == 5:
        return rng.randbytes(rng.randint(0, 40)).hex() * rng.choice((1, 1, 2))
    if kind == 6:
        return "A" * rng.choice((0, 63, 64, 65, 300))
    if kind == 7:
        return [_value(rng, depth + 1) for _ in range(rng.randint(0, 4))]
    return {rng.choice(FIELDS): _value(rng, depth + 1) for _ in range(rng.randint(0, 3))}


def _frame(seq, body, crc=None, version=1):
    return b"@E%d %d %08x %s" % (version, seq, zlib.crc32(body) if crc is None else crc, body)


def one_input(rng, seq):
    """One line (no terminator): the fuzz input number `seq`."""
    k = rng.random()
    if k < 0.45:
        cmd = {"cmd": rng.choice(NAMES)}
        for _ in range(rng.randint(0, 3)):
            cmd[rng.choice(FIELDS)] = _value(rng)
        if rng.random() < 0.05:
            cmd["cmd"] = _value(rng)
        body = json.dumps(cmd, ensure_ascii=rng.random() < 0.7).encode("utf-8", "surrogatepass")
        line = _frame(seq, body)
    elif k < 0.60:
        body = json.dumps({"cmd": rng.choice(NAMES)}).encode()
        bad = rng.randrange(4)
        if bad == 0:
            line = _frame(seq, body, crc=rng.getrandbits(32))
        elif bad == 1:
            line = _frame(seq, body, version=rng.choice((0, 2, 9, 99999)))
        elif bad == 2:
            line = _frame(seq, rng.randbytes(rng.randint(1, 60)))
        else:
            line = b"@E1 %s %s %s" % (rng.choice((b"x", b"-1", b"", b"99999999999999999999")),
                                      rng.choice((b"zz", b"123", b"")), body)
    elif k < 0.75:
        line = bytes(rng.choice(b"\x01\x02\x03\x04\x05\x1b\x00 A@E") for _ in
                     range(rng.randint(1, 40)))
    elif k < 0.80:
        line = rng.choice((b"A", b"@E1 1 00000000 {", b"\x03")) * rng.randint(1024, 3000)
    else:
        line = rng.randbytes(rng.randint(1, 200))
    line = line.replace(b"\n", b" ").replace(b"\r", b" ")
    return line if line.strip(b" ") else b"x"


def run(h, n, seed=1, progress=None, window=64):
    """Send n inputs to Household h's board; an Outcome with the counts."""
    board, client = h.board, h.client
    rng = random.Random(seed)
    client.command("mute")  # the campaign starts muted; a host may always mute
    start = client.command("status")
    first_seq = start["log"]["entries"] and client.read_log()[1]["head"][0]
    device, boots = start["device_id"], board.boots
    intr0 = board.console.interrupts
    ser = client.ensure_connected()
    answers = sent = sessions_seen = pin_faults = 0
    counts = {"replies": 0, "errors": 0}
    t0 = time.monotonic()
    board.play(bytes(640 * 500))

    def drain(wait):
        nonlocal answers, sessions_seen
        for f in client.read_frames(wait):
            if f.type in (T_SESSION_HEADER, T_SESSION_CHUNK, T_SESSION_CLOSE):
                sessions_seen += 1
            elif f.type == T_EVENT:
                ev = f.event().get("ev")
                if ev in ("reply", "error"):
                    answers += 1
                    counts["replies" if ev == "reply" else "errors"] += 1

    stall = time.monotonic()
    checked = -1
    while sent < n or answers < sent:
        if board.world.queued_seconds() < 2:
            board.play(bytes(640 * 500))  # board time runs as fast as the firmware reads
        if sent < n and sent - answers < window:
            batch = b"".join(one_input(rng, FUZZ_SEQ + sent + i) + b"\n"
                             for i in range(min(16, n - sent)))
            ser.write(batch)
            sent += min(16, n - sent)
            stall = time.monotonic()
        before = answers
        drain(0.01)
        if answers != before:
            stall = time.monotonic()
        elif time.monotonic() - stall > 20:
            break  # the board stopped answering: counted below as unanswered
        if sent % 2000 < 16 and sent != checked:
            checked = sent
            pins = board.pins()
            pin_faults += pins["mic_power"] != 0 or pins["mute_led"] != 1
            if progress:
                progress(sent, answers)
    drain(0.5)
    end = client.command("status")
    data, _ = client.read_log()
    log = translog.verify_log(data)
    new = [e for e in log.entries if e.seq > first_seq]  # what the campaign caused
    host_kinds_ok = all(e.kind == REQUEST_LOG_KIND or (
        e.kind in ALLOWED_LOG_KINDS and e.fields.get("source") == "host") for e in new)
    widened = [e for e in new if e.kind == "consent" and e.fields["new"] & ~e.fields["old"]]
    repl = h.repl_text()
    held = (board.boots == boots and board.console.interrupts == intr0 and not repl
            and pin_faults == 0 and sessions_seen == 0 and not end["consent"]["flags"]
            and end["device_id"] == device and end["muted"] is True and end["access"] == "locked"
            and answers >= sent and log.ok and host_kinds_ok and not widened)
    counts.update({"trials": n, "inputs": n, "unanswered": max(0, sent - answers),
                   "resets": board.boots - boots, "interrupts": board.console.interrupts - intr0,
                   "REPL text": len(repl), "session frames": sessions_seen,
                   "mic powered": pin_faults, "flags gained": len(end["consent"]["flags"]),
                   "log entries": len(new),
                   "inputs/s": int(n / max(time.monotonic() - t0, 1e-3))})
    return judge("7", "protocol fuzz (locked, provisioned, muted)", held, counts)
