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
    # (first seq, last seq, hash hex) for each G line: entries the board's repair moved to its
    # quarantine because they did not chain; the chain resumes on the hash they stated
    gaps: list = field(default_factory=list)

    @property
    def ok(self):
        return self.error is None


def _parse_body(body):
    """An entry's JSON body -> dict, or ValueError saying what is wrong with its shape.

    The firmware writes {"seq": int, "t": int, "k": str, "f": {...}}; anything else chains (the
    hash covers any bytes) but is not an entry the firmware wrote, and nothing below may trip
    over it."""
    try:
        obj = json.loads(body)
    except ValueError:
        raise ValueError("body is not an entry (not JSON)") from None
    if not isinstance(obj, dict) or not _is_int(obj.get("seq")):
        raise ValueError("body is not an entry (no seq)")
    if not _is_int(obj.get("t", 0)) or obj.get("t", 0) < 0:
        raise ValueError("entry #%d is malformed: its time is not a number of ms" % obj["seq"])
    if not isinstance(obj.get("k", "?"), str):
        raise ValueError("entry #%d is malformed: its kind is not a word" % obj["seq"])
    if not isinstance(obj.get("f", {}), dict):
        raise ValueError("entry #%d is malformed: its fields are not an object" % obj["seq"])
    return obj


def _is_int(x):
    return isinstance(x, int) and not isinstance(x, bool)


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
        if line.startswith(b"G "):
            # G <seq> <hash>: a repair at boot set the lines before it aside (quarantine)
            parts = line.split(b" ")
            try:
                if len(parts) != 3 or len(parts[2]) != 64:
                    raise ValueError
                gseq, gprev = int(parts[1]), bytes.fromhex(parts[2].decode())
            except ValueError:
                res.error = "line %d: malformed repair marker" % n
                return res
            if gseq < seq:
                res.error = "line %d: repair marker goes back to seq %d after %d" % (n, gseq, seq)
                return res
            res.gaps.append((seq + 1, gseq, gprev.hex()))
            seq, prev = gseq, gprev
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
        except ValueError as e:
            res.error = "line %d: %s" % (n, e)
            return res
        if obj["seq"] != seq + 1:
            res.error = "line %d: seq %d follows %d" % (n, obj["seq"], seq)
            return res
        seq, prev = obj["seq"], digest
        res.entries.append(Entry(seq, obj.get("t", 0), obj.get("k", "?"), obj.get("f", {}),
                                 digest.hex()))
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
        held.update({last: h for _, last, h in res.gaps})
        if held.get(pseq) != phash:
            res.error = "entry %d differs from the one seen before (log rewritten)" % pseq


def read_log(path, pins=()):
    with open(path, "rb") as f:
        return verify_log(f.read(), pins)


# --- showing it to people -------------------------------------------------------------------


def describe(e):
    """One human-readable line for an entry; an entry whose fields are not what its kind has
    (a number that is text, ...) is shown as MALFORMED with its fields, never a traceback."""
    head = "#%-5d %s  " % (e.seq, board_clock(e.t))
    try:
        return head + _describe(e.kind, e.fields)
    except (TypeError, ValueError, KeyError, AttributeError, OverflowError):
        return head + "MALFORMED %s entry (not as the firmware writes it): %s" % (
            e.kind, json.dumps(e.fields, sort_keys=True)[:200])


def _describe(kind, f):
    test = " [TEST MODE: audio may be the host's]" if f.get("test") else ""
    if kind == "open":
        return "session opened: audio starts leaving the board, consent %s, wake %s, " \
            "session %s (counter %s)%s" % (consent_text(f.get("consent", 0)), f.get("wake") or "-",
                                           f.get("id", "?"), f.get("counter", "?"), test)
    if kind == "session":
        ms = f.get("ms", f.get("bytes", 0) // BYTES_PER_MS)
        return "audio left the board: %.1f s, %d bytes, consent %s, wake %s, ended %s, " \
            "session %s (counter %s), digest %s%s" % (
                ms / 1000, f.get("bytes", 0), consent_text(f.get("consent", 0)),
                f.get("wake") or "-", f.get("end") or "-", f.get("id", "?"),
                f.get("counter", "?"), str(f.get("digest", ""))[:16], test)
    if kind == "interrupted":
        return "session %s (counter %s) was cut off by a %s: audio left, its end was " \
            "never logged" % (f.get("id", "?"), f.get("counter", "?"), f.get("cause", "reset"))
    if kind == "boot":
        return "board started (%s), %s" % (f.get("cause", "?"), f.get("access", "?"))
    if kind == "unlock":
        return "UNLOCKED at the board (%s): updatable until the next reset" % f.get(
            "by", "?")
    if kind == "test_mode":
        if f.get("on"):
            return "TEST MODE on (%s): the host may play audio into the board" % f.get(
                "by", "?")
        return "test mode off: %s" % f.get("why", "?")
    if kind == "crash":
        return "the firmware failed (%s) and the board reset" % f.get("error", "?")
    if kind == "provision":
        return "signing key set for device %s" % f.get("device_id", "?")
    if kind == "consent":
        return "consent %s -> %s, by %s" % (
            consent_text(f.get("old", 0)),
            consent_text(f.get("new", 0), f.get("guest", False), f.get("preset")),
            f.get("source", "?"))
    if kind == "mute":
        return "microphone %s by %s" % (
            "muted" if f.get("muted") else "unmuted", f.get("source", "?"))
    if kind == "request":
        return request_text(f)
    if kind == "repair":
        if "quarantined_bytes" in f:
            return "LOG REPAIRED at boot: %d lines (%d bytes) that did not chain were set aside " \
                "on the board (%d bytes kept there); every entry that chains was kept" % (
                    f.get("lines", 0), f.get("quarantined_bytes", 0), f.get("kept_bytes", 0))
        return "log repaired at boot: %d damaged bytes dropped" % f.get("dropped_bytes", 0)
    if kind == "repair_ack":
        return "the log repair warning was acknowledged at the board (%s)" % f.get("by", "?")
    return "%s %s" % (kind, json.dumps(f, sort_keys=True))


def request_text(f):
    """A host request's life (firmware/earshot/app.py _log_request), in words."""
    what = {"provision": "a new signing key for device %s" % f.get("target"),
            "consent": "consent %s" % f.get("target")}.get(f.get("what"), "a withdrawn request")
    by = " (%s)" % f["by"] if f.get("by") else ""
    why = f.get("why")
    return {
        "asked": "a computer%s asked for %s: waiting for both buttons" % (by, what),
        "cancelled": "request for %s%s cancelled (%s)" % (what, by, why or "?"),
        "expired": "request for %s%s expired: nobody confirmed it" % (what, by),
        "refused": "request for %s%s refused: %s" % (
            what, by, "a request was just withdrawn, the board waits before it takes another"
            if why == "cooldown" else why or "?"),
        "gesture_refused": "both buttons held, nothing confirmed (%s%s): %s" % (
            what, by, why or "?"),
    }.get(f.get("event"), "request %s" % json.dumps(f, sort_keys=True))


def render(res, as_json=False):
    if as_json:
        return json.dumps({
            "ok": res.ok, "error": res.error, "torn_bytes": res.torn_bytes,
            "anchor": list(res.anchor) if res.anchor else None, "head": list(res.head),
            "set_aside": [{"first": a, "last": b} for a, b, _ in res.gaps],
            "entries": [asdict(e) for e in res.entries],
        }, indent=2)
    lines = []
    if res.anchor:
        lines.append("(entries up to #%d were dropped to keep the log bounded; chain anchored "
                     "at %s)" % (res.anchor[0], res.anchor[1][:16]))
    gaps = {last + 1: (first, last) for first, last, _ in res.gaps}
    for e in res.entries:
        if e.seq in gaps:
            first, last = gaps[e.seq]
            what = ("lines that were not entries of this chain were" if first > last else
                    "entry #%d was" % last if first == last else
                    "entries #%d-#%d were" % (first, last))
            lines.append("(%s set aside here by a repair at boot: did not chain)" % what)
        lines.append(describe(e))
    if res.torn_bytes:
        lines.append("(an unfinished last entry, %d bytes, is ignored: a power cut during an "
                     "append)" % res.torn_bytes)
    if res.ok:
        lines.append("chain verified: %d entries, head #%d %s" % (
            len(res.entries), res.head[0], res.head[1][:16]))
    else:
        lines.append("CHAIN BROKEN: %s" % res.error)
    return "\n".join(lines)
