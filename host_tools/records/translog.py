"""Read and verify the board's transparency log (firmware/earshot/translog.py, docs/sessions.md).

    result = verify_log(Path("log.txt").read_bytes(), pins=[(12, "ab..")])
    print(render(result))               # human-readable lines
    print(render(result, as_json=True))

A log verifies when every entry's hash is SHA-256(previous hash | body) over the stored bytes, its
seq is one more than the previous one, and the first entry follows the anchor (or genesis: seq 0
after 32 zero bytes). `pins` are (seq, hash) pairs a host saw earlier (e.g. the head it recorded
last time): each must still be on the chain, so a board whose log was rewritten or rolled back
fails even though the rewritten chain is internally consistent.
"""

import hashlib
import json
from dataclasses import asdict, dataclass, field

from ..vocabulary import board_clock, consent_text
from .sessions import BYTES_PER_MS

ZERO_HASH = "0" * 64


@dataclass
class Entry:
    seq: int
    t: int  # board time in ms when the entry was appended
    kind: str  # session | consent | mute | repair
    fields: dict
    hash: str  # hex


@dataclass
class LogResult:
    entries: list = field(default_factory=list)  # the entries that verified, oldest first
    anchor: tuple | None = None  # (seq, hash hex) of the last dropped entry
    anchor_counter: int = 0  # the highest session counter when entries were dropped
    head: tuple = (-1, ZERO_HASH)  # (seq, hash hex) of the newest verified entry
    error: str | None = None  # "line 5: ..." for the first line that fails
    torn_bytes: int = 0  # an unfinished last line (a power cut mid-append; repaired at boot)

    @property
    def ok(self):
        return self.error is None


def _parse_body(body):
    obj = json.loads(body)
    if not isinstance(obj, dict) or not isinstance(obj.get("seq"), int):
        raise ValueError("entry has no seq")
    return obj


def verify_log(data, pins=()):
    """Transparency log bytes -> LogResult (stops at the first line that fails)."""
    res = LogResult()
    prev = bytes(32)
    seq = -1
    lines = data.split(b"\n")
    if lines and lines[-1] != b"":
        res.torn_bytes = len(lines[-1])
    lines = lines[:-1]
    for n, line in enumerate(lines, 1):
        if n == 1 and line.startswith(b"A "):
            # A <seq> <hash> [<highest counter> <newest header tag>] (older logs: no counter)
            parts = line.split(b" ")
            try:
                if len(parts) not in (3, 5) or len(parts[2]) != 64:
                    raise ValueError
                seq, prev = int(parts[1]), bytes.fromhex(parts[2].decode())
                if len(parts) == 5:
                    res.anchor_counter = int(parts[3])
                    if len(parts[4]) != 64:
                        raise ValueError
                    bytes.fromhex(parts[4].decode())
            except ValueError:
                res.error = "line 1: malformed anchor"
                return res
            res.anchor = (seq, prev.hex())
            res.head = res.anchor
            continue
        if len(line) < 67 or line[64:65] != b" ":
            res.error = "line %d: not a log entry" % n
            return res
        body = line[65:]
        digest = hashlib.sha256(prev + body).digest()
        if digest.hex().encode() != line[:64]:
            res.error = "line %d: hash does not chain (entry edited, inserted or removed)" % n
            return res
        try:
            obj = _parse_body(body)
        except ValueError:
            res.error = "line %d: body is not an entry" % n
            return res
        if obj["seq"] != seq + 1:
            res.error = "line %d: seq %d follows %d" % (n, obj["seq"], seq)
            return res
        seq, prev = obj["seq"], digest
        res.entries.append(Entry(seq, obj.get("t", 0), str(obj.get("k", "?")),
                                 obj.get("f", {}), digest.hex()))
        res.head = (seq, digest.hex())
    for pseq, phash in pins:
        _check_pin(res, pseq, phash)
        if res.error:
            break
    return res


def _check_pin(res, pseq, phash):
    if pseq > res.head[0]:
        res.error = "entry %d was seen before but is gone (log rolled back)" % pseq
    elif res.anchor and pseq == res.anchor[0]:
        if res.anchor[1] != phash:
            res.error = "anchor %d differs from the hash seen before (log rewritten)" % pseq
    elif not res.anchor or pseq > res.anchor[0]:
        held = {e.seq: e.hash for e in res.entries}
        if held.get(pseq) != phash:
            res.error = "entry %d differs from the one seen before (log rewritten)" % pseq


def read_log(path, pins=()):
    with open(path, "rb") as f:
        return verify_log(f.read(), pins)


# --- showing it to people -------------------------------------------------------------------


def describe(e):
    """One human-readable line for an entry."""
    f = e.fields
    head = "#%-5d %s  " % (e.seq, board_clock(e.t))
    test = " [TEST MODE: audio may be the host's]" if f.get("test") else ""
    if e.kind == "open":
        return head + "session opened: audio starts leaving the board, consent %s, wake %s, " \
            "session %s (counter %s)%s" % (consent_text(f.get("consent", 0)), f.get("wake") or "-",
                                           f.get("id", "?"), f.get("counter", "?"), test)
    if e.kind == "session":
        ms = f.get("ms", f.get("bytes", 0) // BYTES_PER_MS)
        return head + "audio left the board: %.1f s, %d bytes, consent %s, wake %s, ended %s, " \
            "session %s (counter %s), digest %s%s" % (
                ms / 1000, f.get("bytes", 0), consent_text(f.get("consent", 0)),
                f.get("wake") or "-", f.get("end") or "-", f.get("id", "?"),
                f.get("counter", "?"), str(f.get("digest", ""))[:16], test)
    if e.kind == "interrupted":
        return head + "session %s (counter %s) was cut off by a %s: audio left, its end was " \
            "never logged" % (f.get("id", "?"), f.get("counter", "?"), f.get("cause", "reset"))
    if e.kind == "boot":
        return head + "board started (%s), %s" % (f.get("cause", "?"), f.get("access", "?"))
    if e.kind == "unlock":
        return head + "UNLOCKED at the board (%s): updatable until the next reset" % f.get(
            "by", "?")
    if e.kind == "test_mode":
        if f.get("on"):
            return head + "TEST MODE on (%s): the host may play audio into the board" % f.get(
                "by", "?")
        return head + "test mode off: %s" % f.get("why", "?")
    if e.kind == "crash":
        return head + "the firmware failed (%s) and the board reset" % f.get("error", "?")
    if e.kind == "provision":
        return head + "signing key set for device %s" % f.get("device_id", "?")
    if e.kind == "consent":
        return head + "consent %s -> %s, by %s" % (
            consent_text(f.get("old", 0)),
            consent_text(f.get("new", 0), f.get("guest", False), f.get("preset")),
            f.get("source", "?"))
    if e.kind == "mute":
        return head + "microphone %s by %s" % (
            "muted" if f.get("muted") else "unmuted", f.get("source", "?"))
    if e.kind == "provision":
        return head + "provisioned as %s (a new signing key)" % f.get("device_id", "?")
    if e.kind == "test_mode":
        return head + "TEST MODE on: audio may be fed over serial (earshot hil)"
    if e.kind == "repair":
        return head + "log repaired at boot: %d damaged bytes dropped" % f.get("dropped_bytes", 0)
    return head + "%s %s" % (e.kind, json.dumps(f, sort_keys=True))


def render(res, as_json=False):
    if as_json:
        return json.dumps({
            "ok": res.ok, "error": res.error, "torn_bytes": res.torn_bytes,
            "anchor": list(res.anchor) if res.anchor else None, "head": list(res.head),
            "entries": [asdict(e) for e in res.entries],
        }, indent=2)
    lines = []
    if res.anchor:
        lines.append("(entries up to #%d were dropped to keep the log bounded; chain anchored "
                     "at %s)" % (res.anchor[0], res.anchor[1][:16]))
    lines += [describe(e) for e in res.entries]
    if res.torn_bytes:
        lines.append("(an unfinished last entry, %d bytes, is ignored: a power cut during an "
                     "append)" % res.torn_bytes)
    if res.ok:
        lines.append("chain verified: %d entries, head #%d %s" % (
            len(res.entries), res.head[0], res.head[1][:16]))
    else:
        lines.append("CHAIN BROKEN: %s" % res.error)
    return "\n".join(lines)
