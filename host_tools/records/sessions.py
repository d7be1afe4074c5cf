"""Signed sessions on the host: parse, sign and verify the records of firmware/earshot/session.py.

This is an independent implementation (CPython's `hmac`) of the byte layout in
docs/sessions.md, so a test that signs on the board and verifies here checks both sides.

    records = read_capture("session.cap")          # list of record bytes
    result = verify_stream(records, key)           # Result
    if not result.ok: print(result.failure)        # "chunk 7: reordered (session 1, counter 41)"

Reasons a stream fails, first failure wins:
    modified   a record's bytes changed (its tag does not verify, but the key is right)
    reordered  a chunk arrives before one with a lower index
    dropped    a chunk, a header or a whole session is missing (every header names the tag of
               the header its device sent before: a gap in that chain is a session that never
               arrived)
    replayed   a record or a session seen before (identical bytes, or a counter that did not
               increase for the device; with a receiver history (history.py) also across runs)
    forged     a header that no record of its session verifies under the key (another key)
    truncated  a session without a valid close record
"""

import hmac
import struct
from dataclasses import dataclass, field
from hashlib import sha256
from pathlib import Path

from ..errors import EarshotError
from ..vocabulary import FLAG_NAMES, flag_names  # noqa: F401 (re-exported)

TAG_SIZE = 32
SESSION_ID_SIZE = 8
VERSION = 2  # 2: headers carry `prev`, the tag of the device's previous header
HEADER, CHUNK, CLOSE = 0x48, 0x43, 0x45  # 'H', 'C', 'E'
GAP = 0x47  # 'G': a gap the board declared, parsed as a Chunk with no audio
# type, version, session id, counter, start, flags, prev, n (device id length)
_HEADER_FIXED = struct.Struct(">BB8sIQB32sB")
ZERO_TAG = bytes(TAG_SIZE)  # `prev` of a device's first session
TEST_FLAG = 0x80  # flags bit 7: sent in test mode, the audio may be the host's own (`feed`)
_CHUNK_PREFIX = struct.Struct(">BIH")  # type, index, pcm length
_CLOSE_BODY = struct.Struct(">BIIB")  # type, chunk count, pcm bytes, reason

REASONS = {1: "speech_end", 2: "max_length", 3: "mute", 4: "host_stop", 5: "consent", 6: "error",
           7: "host_slow"}

SAMPLE_RATE = 16000  # Hz, int16 mono: 32 bytes per ms
BYTES_PER_MS = SAMPLE_RATE * 2 // 1000

CAPTURE_MAGIC = b"EARSHOT-CAPTURE-1\n"
_LEN = struct.Struct(">I")


class CaptureError(EarshotError):
    """A capture file that is not a capture, or is cut off inside a record."""


# --- records -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Header:
    session_id: bytes  # 8 bytes
    counter: int  # monotonic per device
    start_ms: int  # board time in ms when the utterance started
    flags: int  # consent bit flags, and TEST_FLAG
    device_id: str
    wake_word: str  # detector name, or "ptt" for push-to-talk
    tag: bytes
    signed: bytes  # the bytes the tag covers
    prev: bytes = ZERO_TAG  # tag of the header this device sent before this one


@dataclass(frozen=True)
class Chunk:
    index: int
    pcm: bytes  # int16 LE mono 16 kHz
    tag: bytes
    prefix: bytes  # 'C' index len: the bytes before the pcm


@dataclass(frozen=True)
class Close:
    count: int  # chunks in the session
    nbytes: int  # PCM bytes in the session
    reason: int  # REASONS code
    tag: bytes
    body: bytes  # the bytes the tag covers after the previous tag


class RecordError(ValueError):
    """Bytes that are not a well-formed header, chunk or close record."""


def parse_record(data):
    """Record bytes (as the firmware produced them) -> Header | Chunk | Close."""
    data = bytes(data)
    if not data:
        raise RecordError("empty record")
    kind = data[0]
    if kind == HEADER:
        if len(data) < _HEADER_FIXED.size + 1 + TAG_SIZE:
            raise RecordError("header too short")
        _, ver, sid, counter, start, flags, prev, n = _HEADER_FIXED.unpack_from(data)
        if ver != VERSION:
            raise RecordError("header version %d, expected %d" % (ver, VERSION))
        pos = _HEADER_FIXED.size
        dev = data[pos : pos + n]
        pos += n
        if pos >= len(data):
            raise RecordError("header too short")
        m = data[pos]
        wake = data[pos + 1 : pos + 1 + m]
        pos += 1 + m
        if len(data) != pos + TAG_SIZE or len(dev) != n or len(wake) != m:
            raise RecordError("header length does not match its fields")
        return Header(sid, counter, start, flags, dev.decode("utf-8", "replace"),
                      wake.decode("utf-8", "replace"), data[pos:], data[:pos], prev)
    if kind == CHUNK:
        if len(data) < _CHUNK_PREFIX.size + TAG_SIZE:
            raise RecordError("chunk too short")
        _, index, n = _CHUNK_PREFIX.unpack_from(data)
        if len(data) != _CHUNK_PREFIX.size + n + TAG_SIZE:
            raise RecordError("chunk length does not match its length field")
        p = _CHUNK_PREFIX.size
        return Chunk(index, data[p : p + n], data[p + n :], data[:p])
    if kind == GAP:
        if len(data) != 5 + TAG_SIZE:
            raise RecordError("gap record has the wrong length")
        (index,) = struct.unpack_from(">I", data, 1)
        return Chunk(index, b"", data[5:], data[:5])  # signed as 'G' index, in the chain
    if kind == CLOSE:
        if len(data) != _CLOSE_BODY.size + TAG_SIZE:
            raise RecordError("close record has the wrong length")
        _, count, nbytes, reason = _CLOSE_BODY.unpack_from(data)
        return Close(count, nbytes, reason, data[_CLOSE_BODY.size :], data[: _CLOSE_BODY.size])
    raise RecordError("unknown record type 0x%02x" % kind)


def chunk_record(index, pcm, tag):
    """Build chunk record bytes from the parts the firmware's chunk() returns."""
    return _CHUNK_PREFIX.pack(CHUNK, index, len(pcm)) + bytes(pcm) + bytes(tag)


def _mac(key, *parts):
    return hmac.new(key, b"".join(bytes(p) for p in parts), sha256).digest()


def _tag_ok(key, tag, *parts):
    return hmac.compare_digest(_mac(key, *parts), tag)


# --- signing (the host twin of the firmware signer; used by tests and simulations) ----------


class Signer:
    """The same bytes as firmware/earshot/session.py SessionSigner, for tests and simulations.

    open() and close() take the firmware's arguments; chunk_record(pcm) returns the whole chunk
    record, where the firmware's chunk(pcm) returns (index, tag) to go after its prefix.
    """

    def __init__(self, key, device_id):
        self.key = bytes(key)
        self.device = device_id.encode() if isinstance(device_id, str) else bytes(device_id)
        self._tag = None
        self.index = self.nbytes = 0
        self.digest = None
        self.last_header_tag = ZERO_TAG  # what the next header's `prev` is by default

    def open(self, session_id, counter, wake_word, consent_flags, start_ms, prev=None):
        """prev: the previous header's tag (default: the last one this Signer made)."""
        wake = wake_word.encode() if isinstance(wake_word, str) else bytes(wake_word)
        prev = self.last_header_tag if prev is None else bytes(prev)
        head = _HEADER_FIXED.pack(HEADER, VERSION, bytes(session_id), counter, start_ms,
                                  consent_flags & 0xFF, prev, len(self.device))
        head += self.device + bytes([len(wake)]) + wake
        self._tag = _mac(self.key, head)
        self.last_header_tag = self._tag
        self.index = self.nbytes = 0
        return head + self._tag

    def chunk_record(self, pcm):
        prefix = _CHUNK_PREFIX.pack(CHUNK, self.index, len(pcm))
        self._tag = _mac(self.key, self._tag, prefix, pcm)
        self.index += 1
        self.nbytes += len(pcm)
        return prefix + bytes(pcm) + self._tag

    def gap_record(self):
        """A gap the board declares: it takes one chunk index (firmware SessionSigner.gap)."""
        head = struct.pack(">BI", GAP, self.index)
        self._tag = _mac(self.key, self._tag, head)
        self.index += 1
        return head + self._tag

    def close(self, reason):
        code = {v: k for k, v in REASONS.items()}.get(reason, reason)
        body = _CLOSE_BODY.pack(CLOSE, self.index, self.nbytes, code)
        self.digest = _mac(self.key, self._tag, body)
        self._tag = None
        return body + self.digest


def sign_session(key, device_id, session_id, counter, pcm_chunks, *, wake_word="hey_earshot",
                 flags=1, start_ms=0, reason="speech_end", prev=ZERO_TAG):
    """A whole signed session as a list of record bytes."""
    s = Signer(key, device_id)
    recs = [s.open(session_id, counter, wake_word, flags, start_ms, prev)]
    recs += [s.chunk_record(p) for p in pcm_chunks]
    recs.append(s.close(reason))
    return recs


# --- verification ---------------------------------------------------------------------------


@dataclass
class SessionInfo:
    device_id: str
    session_id: str  # hex
    counter: int
    wake_word: str
    flags: int
    start_ms: int
    chunks: int = 0  # chunk indices, gap records included
    nbytes: int = 0
    gaps: int = 0  # gaps the board declared (signed gap records): audio it lost there
    reason: str = ""
    digest: str = ""  # hex of the close tag: what the transparency log records
    tag: str = ""  # hex of the header tag: the next session's `prev`
    prev: str = ""  # hex of this header's `prev`: the tag of the session before it

    @property
    def consent(self):
        return flag_names(self.flags)

    @property
    def test(self):
        """Sent in test mode: the audio may have been played in by the host (`feed`)."""
        return bool(self.flags & TEST_FLAG)

    @property
    def duration_ms(self):
        return self.nbytes // BYTES_PER_MS


@dataclass
class Failure:
    reason: str  # modified | reordered | dropped | replayed | forged | truncated
    where: str  # "header", "chunk 7", "close", "record 12"
    session: int  # 1-based ordinal of the session in the stream
    counter: int | None = None
    detail: str = ""

    def __str__(self):
        ctx = "session %d" % self.session
        if self.counter is not None:
            ctx += ", counter %d" % self.counter
        if self.detail:
            ctx = self.detail + "; " + ctx
        return "%s: %s (%s)" % (self.where, self.reason, ctx)


@dataclass
class Result:
    sessions: list = field(default_factory=list)  # SessionInfo of every session that verified
    failure: Failure | None = None
    # SessionInfo of every header that verified and was no replay, closed or not (a truncated
    # session's header too, and one whose device's chain has a gap before it): what a
    # receiver history remembers.
    headers: list = field(default_factory=list)

    @property
    def ok(self):
        return self.failure is None


def _parsed(records):
    out = []
    for r in records:
        try:
            out.append(parse_record(r))
        except RecordError as e:
            out.append(e)
    return out


def _session_end(parsed, start):
    """Index of the next header after `start` (or len)."""
    for j in range(start + 1, len(parsed)):
        if isinstance(parsed[j], Header):
            return j
    return len(parsed)


def _any_link_verifies(key, parsed, start, end):
    """Does any record in parsed[start+1:end] verify against its stated predecessor's tag?

    Used to tell a modified record (the rest of the session still chains under our key) from a
    forged session (nothing verifies: another key).
    """
    for j in range(start + 1, end):
        prev, rec = parsed[j - 1], parsed[j]
        if isinstance(prev, Exception) or isinstance(rec, Exception):
            continue
        if isinstance(rec, Chunk) and _tag_ok(key, rec.tag, prev.tag, rec.prefix, rec.pcm):
            return True
        if isinstance(rec, Close) and _tag_ok(key, rec.tag, prev.tag, rec.body):
            return True
    return False


def verify_header(data, key):
    """A header record alone (what `earshot record` keeps when no audio may be kept): the
    Header if its tag verifies under `key`, None if not; RecordError if it is no header."""
    rec = parse_record(data)
    if not isinstance(rec, Header):
        raise RecordError("not a header record")
    return rec if _tag_ok(bytes(key), rec.tag, rec.signed) else None


def verify_stream(records, key, last_counters=None, history=None, source=None,
                  replay_last=False):
    """Verify a sequence of record bytes (one or many sessions). Returns a Result.

    last_counters: {device_id: highest counter already accepted}; updated in place as sessions
    verify, so a caller that keeps it across captures also rejects a replayed whole session.
    history: a records.history.History (what earlier runs received; read, never changed here:
    the caller commits result.headers) and `source`, the name this stream is remembered by, so
    verifying the same capture again is not a replay of itself.
    replay_last: for records at rest (a file being verified, never a live stream, whose first
    chunks would otherwise be passed on): a header received before from elsewhere is reported
    as replayed only if the rest of its session verifies, so a modified copy is named by the
    record that was changed.
    """
    key = bytes(key)
    counters = {} if last_counters is None else last_counters
    parsed = _parsed(records)
    seen = set()  # SHA-256 of every record accepted so far
    chain = {}  # device id -> tag of the last header accepted from it in this stream
    result = Result()
    ordinal = 0
    cur = None  # SessionInfo while a session is open
    prev_tag = None
    deferred = None  # with replay_last: the replay, reported at the session's close

    def fail(reason, where, detail=""):
        result.failure = Failure(reason, where, ordinal, cur.counter if cur else None, detail)
        return result

    for i, rec in enumerate(parsed):
        ident = sha256(records[i]).digest()
        if isinstance(rec, Exception):
            return fail("modified", "record %d" % (i + 1), str(rec))
        if ident in seen:
            what = "header" if isinstance(rec, Header) else (
                "chunk %d" % rec.index if isinstance(rec, Chunk) else "close")
            if isinstance(rec, Header):
                ordinal += 1
                cur = None
            return fail("replayed", what, "identical to an earlier record")

        if isinstance(rec, Header):
            if cur is not None:
                return fail("truncated", "chunk %d" % cur.chunks, "no close before next header")
            ordinal += 1
            end = _session_end(parsed, i)
            if not _tag_ok(key, rec.tag, rec.signed):
                verdict = "modified" if _any_link_verifies(key, parsed, i, end) else "forged"
                result.failure = Failure(verdict, "header", ordinal, rec.counter,
                                         "header tag does not verify")
                return result
            problem = _header_problem(rec, counters, chain, history, source)
            cur = SessionInfo(rec.device_id, rec.session_id.hex(), rec.counter, rec.wake_word,
                              rec.flags, rec.start_ms, tag=rec.tag.hex(),
                              prev=rec.prev.hex())
            if replay_last and problem and problem[0] == "replayed" and \
                    _received_before(history, rec):
                deferred = Failure("replayed", "header", ordinal, rec.counter, problem[1])
                prev_tag = rec.tag
                seen.add(ident)
                continue
            if problem:
                if problem[0] == "dropped":
                    # The header is the board's and new; what is missing came before it. It is
                    # remembered, so the gap is reported here (every time this session is
                    # checked) and the next session chains to it instead of failing forever.
                    result.headers.append(cur)
                result.failure = Failure(problem[0], "header", ordinal, rec.counter, problem[1])
                return result
            chain[rec.device_id] = rec.tag
            result.headers.append(cur)
            prev_tag = rec.tag
            seen.add(ident)
            continue

        if cur is None:
            what = "chunk %d" % rec.index if isinstance(rec, Chunk) else "close"
            return fail("dropped", what, "no header before it")

        expected = cur.chunks
        if isinstance(rec, Chunk):
            if rec.index == expected:
                if not _tag_ok(key, rec.tag, prev_tag, rec.prefix, rec.pcm):
                    return fail("modified", "chunk %d" % expected, "tag does not verify")
            else:
                # An index field changed in place still verifies at the expected position.
                fixed = _CHUNK_PREFIX.pack(CHUNK, expected, len(rec.pcm))
                if _tag_ok(key, rec.tag, prev_tag, fixed, rec.pcm):
                    return fail("modified", "chunk %d" % expected, "index field changed")
                later = any(isinstance(r, Chunk) and r.index == expected
                            for r in parsed[i + 1 : end])
                if later:
                    return fail("reordered", "chunk %d" % expected,
                                "arrives after chunk %d" % rec.index)
                if rec.index > expected:
                    return fail("dropped", "chunk %d" % expected, "next is chunk %d" % rec.index)
                return fail("modified", "chunk %d" % expected, "unexpected chunk %d" % rec.index)
            prev_tag = rec.tag
            cur.chunks += 1
            cur.nbytes += len(rec.pcm)
            cur.gaps += rec.prefix[:1] == bytes([GAP])
            seen.add(ident)
            continue

        # Close record.
        if rec.count != expected:
            later = any(isinstance(r, Chunk) and r.index == expected for r in parsed[i + 1 : end])
            if later:
                return fail("reordered", "chunk %d" % expected, "arrives after the close")
            if rec.count > expected:
                return fail("dropped", "chunk %d" % expected,
                            "close counts %d chunks" % rec.count)
            return fail("modified", "close", "close counts %d chunks, %d received"
                        % (rec.count, expected))
        if not _tag_ok(key, rec.tag, prev_tag, rec.body) or rec.nbytes != cur.nbytes:
            return fail("modified", "close", "close tag does not verify")
        if deferred is not None:  # whole and the board's, but received before
            result.failure = deferred
            return result
        cur.reason = REASONS.get(rec.reason, "reason %d" % rec.reason)
        cur.digest = rec.tag.hex()
        counters[cur.device_id] = cur.counter
        result.sessions.append(cur)
        seen.add(ident)
        cur = None

    if cur is not None:
        return fail("truncated", "chunk %d" % cur.chunks, "stream ends without a close")
    return result


def _received_before(history, rec):
    """Whether the history holds this very header (its device, counter and tag)."""
    known = history.get(rec.device_id, rec.counter) if history is not None else None
    return known is not None and known["tag"] == rec.tag.hex()


def _header_problem(rec, counters, chain, history, source):
    """(reason, detail) if a verified header replays or breaks its device's chain, else None."""
    dev = rec.device_id
    known = history.get(dev, rec.counter) if history is not None else None
    if known is not None and known.get("baseline") and known["tag"] == rec.tag.hex():
        # The board's newest session when this history started (History.baseline), arriving
        # after all (it was on the line as the recorder greeted the board): received, no replay.
        counters[dev] = rec.counter
        return None
    again = known is not None and known["tag"] == rec.tag.hex() and known.get("source") == source
    if known is not None and not again:
        return "replayed", "counter %d was received before (%s)" % (
            rec.counter, known.get("source") or "an earlier run")
    if known is None and history is not None and history.awaited(dev, rec.tag.hex()):
        return None  # the session a later one chains to, arriving late: it fills the gap
    last = counters.get(dev)
    if not again and history is not None and dev not in chain:
        top = history.max_counter(dev)
        if top is not None and (last is None or top > last):
            last = top
    if last is not None and rec.counter <= last:
        return "replayed", "counter %d not above %d" % (rec.counter, last)
    # The chain: this header names the tag of the one its device sent before.
    expect = chain.get(dev)
    if expect is None and history is not None:
        before = history.previous(dev, rec.counter)
        expect = bytes.fromhex(before["tag"]) if before else None
    if expect is not None and rec.prev != expect:
        return "dropped", ("a session before counter %d was not received, or did not verify, "
                           "here (its header chains to %s, the last one verified is %s)" % (
                               rec.counter, rec.prev.hex()[:16], expect.hex()[:16]))
    counters[dev] = rec.counter
    return None


# --- capture files --------------------------------------------------------------------------
# A capture is CAPTURE_MAGIC followed by records, each a 4-byte big-endian length and the
# record bytes exactly as the board sent them (header, chunk or close).


def write_capture(path, records):
    with open(path, "wb") as f:
        write_capture_to(f, records)


def write_capture_to(f, records):
    f.write(CAPTURE_MAGIC)
    for r in records:
        f.write(_LEN.pack(len(r)))
        f.write(bytes(r))


def parse_capture(data, name="capture"):
    """Capture bytes -> list of record bytes. Raises CaptureError."""
    if not data.startswith(CAPTURE_MAGIC):
        raise CaptureError("%s is not an Earshot capture (no %r header)"
                           % (name, CAPTURE_MAGIC.strip().decode()))
    pos, out = len(CAPTURE_MAGIC), []
    while pos < len(data):
        if pos + 4 > len(data):
            raise CaptureError("%s is cut off inside record %d" % (name, len(out) + 1))
        (n,) = _LEN.unpack_from(data, pos)
        pos += 4
        if pos + n > len(data):
            raise CaptureError("%s is cut off inside record %d" % (name, len(out) + 1))
        out.append(data[pos : pos + n])
        pos += n
    return out


def read_capture(path):
    try:
        data = Path(path).read_bytes()
    except OSError as e:
        raise CaptureError("cannot read %s: %s" % (path, e.strerror or e)) from None
    return parse_capture(data, str(path))

