# The transparency log (docs/privacy-contract.md, point 6): append-only, hash-chained, bounded,
# in flash.
#
# File format (text, one record per line; docs/sessions.md has the full description):
#   anchor (optional, first line only):  b"A <seq> <hash> <counter> <tag>\n"
#       entries up to and including <seq> were dropped; <hash> is the hash of entry <seq>;
#       <counter> is the highest session counter and <tag> (hex) the newest session header tag
#       the log held when it was trimmed, so neither is lost with the entries (a lost
#       counter.json never restarts counters, and the session chain continues). Older logs have
#       only the first three fields.
#   entry:                               b"<hash> <body>\n"
#       body = JSON object {"seq": n, "t": time_ms, "k": kind, "f": {fields}}
#       hash = hex(SHA-256(prev_hash_raw32 | body bytes as stored)); prev of the first entry is
#       the anchor's hash, or 32 zero bytes (and seq 0) when nothing was ever dropped.
#
#   gap (after a repair, anywhere):      b"G <seq> <hash>\n"
#       the lines before it that did not chain were moved to the quarantine; the next entry
#       chains on <hash> with seq <seq> + 1.
#
# Power cuts: an append is one write of one complete line to a file opened for append; on
# LittleFS the data is committed on close, so a cut leaves the old file. Whatever the filesystem,
# open() verifies the chain before anything else is appended. A torn last line (an append a cut
# interrupted) is dropped. Whole lines that do not chain (an edited entry, damaged flash) are
# moved into the quarantine (quarantine.py: kept in flash, bounded) and every entry that still
# chains is kept: the chain picks up again at the first line that chains on the hash its
# previous line states, and a G line marks the place. The log is rewritten (tmp + rename, atomic)
# and a "repair" entry says what was set aside; the board warns until the household
# acknowledges it at the board. A cut anywhere in a repair repeats it at the next open: the
# quarantine recognises what it already holds, and a repair it holds but never logged is logged.
# Bounding: when more than max_entries entries are held, the oldest are dropped down to
# max_entries - max_entries // 8 by writing anchor + kept lines to `<path>.tmp` and renaming it
# over the log (atomic: the old or the new file); open() finishes a compaction a power cut
# interrupted. That rewrite is ~65 KB: on the board's SPI flash ~16 block erases, about a second
# with the loop stalled (docs/protocol.md). So a log with compact_later set leaves it to
# compact_step(), which its owner calls once per audio frame: it copies about _STEP_BYTES a call
# into the open `.tmp`, catches up with entries appended meanwhile, and renames at the end. The
# file then holds max_entries + 1 entries plus those appended during a compaction (a handful).

import binascii
import hashlib
import json
import os

from micropython import const

from earshot.quarantine import Quarantine
from earshot.store import _replace

_ZERO = bytes(32)
_HEX = const(64)
MAX_BODY = const(512)
_STEP_BYTES = const(1024)


def _parse_entry(line, prev):
    """line (no newline) -> (seq, hash, body dict) if it chains on prev, else None."""
    if len(line) < _HEX + 3 or line[_HEX] != 0x20:
        return None
    body = line[_HEX + 1 :]
    h = hashlib.sha256(prev)
    h.update(body)
    digest = h.digest()
    if binascii.hexlify(digest) != line[:_HEX]:
        return None
    try:
        obj = json.loads(body)
        seq = obj["seq"]
    except (ValueError, KeyError, TypeError):
        return None
    return seq, digest, obj


def _stated_hash(line):
    """The hash a line states (its first 64 hex digits) as bytes, or None."""
    if line is None or len(line) < _HEX + 1 or line[_HEX] != 0x20:
        return None
    try:
        return binascii.unhexlify(line[:_HEX])
    except ValueError:
        return None


def _parse_gap(line):
    """b"G <seq> <hash>" -> (seq, hash bytes), or None."""
    parts = line.split(b" ")
    if len(parts) != 3 or len(parts[2]) != _HEX:
        return None
    try:
        return int(parts[1]), binascii.unhexlify(parts[2])
    except ValueError:
        return None


def _parse_anchor(line):
    """-> (seq, hash, counter, tag or None), or None if malformed."""
    parts = line.split(b" ")
    if len(parts) not in (3, 5) or parts[0] != b"A" or len(parts[2]) != _HEX:
        return None
    try:
        seq, h = int(parts[1]), binascii.unhexlify(parts[2])
        if len(parts) == 3:
            return seq, h, 0, None
        if len(parts[4]) != _HEX:
            return None
        return seq, h, int(parts[3]), binascii.unhexlify(parts[4])
    except ValueError:
        return None


class TransparencyLog:
    """log = TransparencyLog("/log.txt", 256); log.append("mute", {"muted": True, ...}, ms)"""

    def __init__(self, path, max_entries=256):
        if max_entries < 2:
            raise ValueError("max_entries must be at least 2")
        self._path = path
        self._max = max_entries
        self.repaired = 0  # bytes taken out at open: a torn tail, lines that did not chain
        self.quarantine = Quarantine(path + ".quarantine")
        self.compact_later = False  # True: the owner calls compact_step() every frame
        self._job = None  # compaction in progress: [tmp file, source offset, drop, anchor]
        self.writes = 0  # flash writes so far (each may erase a sector: app.py, step)
        self._open()

    def _scan(self):
        """Walk the file. Returns (size, torn, bad, gaps): the file's byte size, the length of a
        torn last line, the byte ranges [(start, end, seq of the entry before)] of whole lines
        that do not chain, and
        where the chain picks up again after each: [(offset, seq, hash)] (a G line goes there).

        After a line that does not chain, the first line that chains on the hash its previous
        line states resumes the chain: an entry edited in place (its stated hash left as it
        was) costs only that line, never everything after it."""
        self._anchor = None
        self._seq = -1
        self._hash = _ZERO
        self._count = 0
        self._max_counter = 0
        self._last_tag = None  # header tag of the newest session opened (bytes)
        self.open_session = None  # fields of an `open` entry with no end entry after it
        self._repairs = []  # quarantine item ids the log's repair entries name
        bad = []
        gaps = []
        torn = 0
        try:
            f = open(self._path, "rb")
        except OSError:
            return 0, 0, bad, gaps
        with f:
            pos = 0
            broken = after = -1  # where the current run of lines that do not chain began
            prev = None  # the previous line (no newline) while broken
            while True:
                line = f.readline()
                if not line:
                    break
                if line[-1] != 0x0A:
                    torn = len(line)  # torn last line: an append a power cut interrupted
                    break
                body = line[:-1]
                if broken < 0:
                    if not self._take(body, pos == 0):
                        broken, after = pos, self._seq
                elif self._take(body, False):  # the bad lines were inserted: skip them
                    bad.append((broken, pos, after))
                    broken = -1
                else:
                    h = _stated_hash(prev)
                    e = _parse_entry(body, h) if h is not None else None
                    if e is not None and e[0] > self._seq:
                        bad.append((broken, pos, after))
                        gaps.append((pos, e[0] - 1, h))
                        broken = -1
                        self._seq, self._hash = e[0] - 1, h
                        self._take(body, False)
                prev = body
                pos += len(line)
            if broken >= 0:
                bad.append((broken, pos, after))
            f.seek(0, 2)
            size = f.tell()
        return size, torn, bad, gaps

    def _take(self, line, first):
        """Follow the chain through one line; False if it does not chain."""
        if first and line[:2] == b"A ":
            anchor = _parse_anchor(line)
            if anchor is None:
                return False
            self._anchor = anchor[:2]
            self._seq, self._hash, self._max_counter, self._last_tag = anchor
            return True
        if line[:2] == b"G ":
            gap = _parse_gap(line)
            if gap is None or gap[0] < self._seq:
                return False
            self._seq, self._hash = gap
            return True
        e = _parse_entry(line, self._hash)
        if e is None or e[0] != self._seq + 1:
            return False
        self._seq, self._hash, obj = e
        self._count += 1
        self._note(obj)
        return True

    def _note(self, obj):
        # What the log knows about sessions: the highest counter, the newest header tag (the
        # next session chains to it) and an opened session that never ended.
        kind = obj.get("k")
        f = obj.get("f", {})
        if kind in ("open", "session"):
            c = f.get("counter", 0)
            if isinstance(c, int) and c > self._max_counter:
                self._max_counter = c
        if kind == "open":
            self.open_session = f
            tag = f.get("tag")
            if isinstance(tag, str) and len(tag) == _HEX:
                try:
                    self._last_tag = binascii.unhexlify(tag)
                except ValueError:
                    pass
        elif kind == "repair":
            self._repairs += f.get("ids", [])
        elif kind in ("session", "interrupted") and self.open_session is not None and \
                f.get("id") == self.open_session.get("id"):
            self.open_session = None

    def _open(self):
        tmp = self._path + ".tmp"
        try:
            os.stat(self._path)
        except OSError:
            # A cut between remove and rename on FAT leaves only the complete tmp.
            try:
                os.rename(tmp, self._path)
            except OSError:
                pass
        size, torn, bad, gaps = self._scan()
        if bad:
            self._set_aside(bad, gaps, size - torn)
        elif torn:
            self._rewrite(size - torn, (), ())
        self.repaired = torn
        for start, end, _ in bad:
            self.repaired += end - start
        q = self.quarantine
        todo = [i for i in q.unlogged() if i["id"] not in self._repairs]
        if todo:
            # Logged after the log was rewritten; a cut before this line logs it next boot, a
            # cut after it finds the item's id in the log and does not log it twice.
            removed = kept = lines = 0
            for i in todo:
                removed += i["bytes"]
                lines += i["lines"]
                kept += len(i["data"]) // 2
            self.append("repair", {"quarantined_bytes": removed, "lines": lines,
                                   "kept_bytes": kept, "after": [i["after"] for i in todo],
                                   "ids": [i["id"] for i in todo]}, 0)
        if q.unlogged():
            q.mark_logged()
        if self._count > self._max:  # a cut landed between an append and its compaction
            self._compact(self._count - (self._max - self._max // 8))

    def _set_aside(self, bad, gaps, keep_to):
        """Move the lines that do not chain into the quarantine (first: a cut after it finds
        them again and adds nothing twice), then rewrite the log without them, a G line where
        the chain picks up again (atomic: a cut leaves the old or the new log)."""
        with open(self._path, "rb") as src:
            for start, end, after in bad:
                src.seek(start)
                removed = src.read(end - start)
                self.quarantine.add(removed, after, removed.count(b"\n"))
        self._rewrite(keep_to, bad, gaps)

    def _rewrite(self, nbytes, bad, gaps):
        """Keep the first nbytes of the log (a whole number of lines) minus the `bad` ranges,
        with a G line at each gap, atomically."""
        tmp = self._path + ".tmp"
        cuts = []
        for start, end, _ in bad:
            cuts.append((start, end, None))
        for off, seq, h in gaps:
            cuts.append((off, off, b"G %d " % seq + binascii.hexlify(h) + b"\n"))
        cuts.sort(key=lambda c: (c[0], c[1]))  # never compares an insert with None
        with open(self._path, "rb") as src, open(tmp, "wb") as dst:
            pos = 0
            for start, end, insert in cuts + [(nbytes, nbytes, None)]:
                src.seek(pos)
                left = start - pos
                while left > 0:
                    block = src.read(min(left, 512))
                    if not block:
                        break
                    dst.write(block)
                    left -= len(block)
                if insert:
                    dst.write(insert)
                pos = end
        _replace(tmp, self._path)

    def append(self, kind, fields, time_ms):
        """Append one entry; return its seq. fields: dict of JSON-able values."""
        seq = self._seq + 1
        body = json.dumps({"seq": seq, "t": time_ms, "k": kind, "f": fields}).encode()
        if len(body) > MAX_BODY:
            raise ValueError("log entry longer than %d bytes" % MAX_BODY)
        h = hashlib.sha256(self._hash)
        h.update(body)
        digest = h.digest()
        with open(self._path, "ab") as f:
            f.write(binascii.hexlify(digest) + b" " + body + b"\n")
        self.writes += 1
        self._seq = seq
        self._hash = digest
        self._count += 1
        self._note({"k": kind, "f": fields})
        if self._count > self._max and not self.compact_later:
            self._compact(self._count - (self._max - self._max // 8))
        return seq

    def compact_step(self):
        """A bounded slice of a due compaction (compact_later); True while one is running.
        Allocation-free when there is nothing to do."""
        job = self._job
        if job is None:
            if self._count <= self._max:
                return False
            self._job = self._start_compaction(self._count - (self._max - self._max // 8))
            self.writes += 1
            return True
        self.writes += 1
        copied = 0
        done = False
        with open(self._path, "rb") as src:
            src.seek(job[1])
            while copied < _STEP_BYTES:
                line = src.readline()
                if not line:
                    done = True
                    break
                job[0].write(line)
                copied += len(line)
        job[1] += copied
        if not done:
            return True
        job[0].close()
        self._job = None
        _replace(self._path + ".tmp", self._path)
        self._anchor = job[3]
        self._count -= job[2]
        return False

    def _start_compaction(self, drop):
        offset = 0
        with open(self._path, "rb") as src:
            line = src.readline()
            if line[:2] == b"A ":
                offset += len(line)
                line = src.readline()
            for _ in range(drop):
                while line[:2] == b"G ":  # a repair's gap marker is not an entry
                    offset += len(line)
                    line = src.readline()
                last = line
                offset += len(line)
                line = src.readline()
        anchor_hash = last[:_HEX]
        anchor_seq = json.loads(last[_HEX + 1 : -1])["seq"]
        dst = open(self._path + ".tmp", "wb")
        dst.write(self._anchor_line(anchor_seq, anchor_hash))
        return [dst, offset, drop, (anchor_seq, binascii.unhexlify(anchor_hash))]

    def _anchor_line(self, anchor_seq, anchor_hash):
        tag = binascii.hexlify(self._last_tag or _ZERO)
        return b"A %d " % anchor_seq + anchor_hash + b" %d " % self._max_counter + tag + b"\n"

    def _compact(self, drop):
        """Drop the `drop` oldest entries, keeping the chain anchor."""
        tmp = self._path + ".tmp"
        with open(self._path, "rb") as src:
            line = src.readline()
            if line[:2] == b"A ":
                line = src.readline()
            for _ in range(drop):
                while line[:2] == b"G ":  # a repair's gap marker is not an entry
                    line = src.readline()
                last = line
                line = src.readline()
            anchor_hash = last[:_HEX]
            anchor_seq = json.loads(last[_HEX + 1 : -1])["seq"]
            with open(tmp, "wb") as dst:
                dst.write(self._anchor_line(anchor_seq, anchor_hash))
                while line:
                    dst.write(line)
                    line = src.readline()
        _replace(tmp, self._path)
        self._anchor = (anchor_seq, binascii.unhexlify(anchor_hash))
        self._count -= drop

    def entries(self, start=0):
        """Yield entries with seq >= start as dicts: seq, t, k (kind), f (fields), hash (hex)."""
        try:
            f = open(self._path, "rb")
        except OSError:
            return
        with f:
            for line in f:
                if line[:2] in (b"A ", b"G "):
                    continue
                obj = json.loads(line[_HEX + 1 : -1])
                if obj["seq"] >= start:
                    obj["hash"] = line[:_HEX].decode()
                    yield obj

    def head(self):
        """(seq, hash hex) of the newest entry; (-1, zeros) for a log that never held one."""
        return self._seq, binascii.hexlify(self._hash).decode()

    def anchor(self):
        """(seq, hash hex) of the last dropped entry, or None."""
        if self._anchor is None:
            return None
        return self._anchor[0], binascii.hexlify(self._anchor[1]).decode()

    def __len__(self):
        return self._count

    def max_counter(self):
        """Highest session counter the log ever held (the anchor keeps it when entries are
        dropped): a floor for store.next_counter."""
        return self._max_counter

    def last_tag(self):
        """Header tag of the newest session opened (bytes), or None before the first."""
        return self._last_tag

    # Entry helpers: the field names host_tools/records/translog.py knows how to show.

    def session(self, time_ms, session_id, counter, start_ms, length_ms, nbytes, flags, digest,
                wake="", reason="", test=False):
        """A session that left the board. session_id and digest: bytes (stored as hex)."""
        return self.append("session", {
            "id": binascii.hexlify(session_id).decode(), "counter": counter, "start": start_ms,
            "ms": length_ms, "bytes": nbytes, "consent": flags,
            "digest": binascii.hexlify(digest).decode(), "wake": wake, "end": reason,
            "test": test,
        }, time_ms)

    def consent(self, time_ms, event):
        """A consent change: the dict consent.Consent passes to its on_change callback."""
        return self.append("consent", event, time_ms)

    def mute(self, time_ms, muted, source):
        return self.append("mute", {"muted": muted, "source": source}, time_ms)
