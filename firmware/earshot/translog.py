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
# Power cuts: an append is one write of one complete line to a file opened for append; on
# LittleFS the data is committed on close, so a cut leaves the old file. Whatever the filesystem,
# open() verifies the chain and, if the tail is torn or corrupt, rewrites the valid prefix
# (tmp + rename, atomic) before anything else is appended; dropped whole lines (not just a torn
# partial line) are then recorded with a "repair" entry, so nothing is lost quietly.
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
        self.repaired = 0  # bytes dropped from a torn or corrupt tail at open
        self.compact_later = False  # True: the owner calls compact_step() every frame
        self._job = None  # compaction in progress: [tmp file, source offset, drop, anchor]
        self.writes = 0  # flash writes so far (each may erase a sector: app.py, step)
        self._open()

    def _scan(self):
        """Walk the file; return the byte length of its valid prefix and whether it is clean."""
        self._anchor = None
        self._seq = -1
        self._hash = _ZERO
        self._count = 0
        self._max_counter = 0
        self._last_tag = None  # header tag of the newest session opened (bytes)
        self.open_session = None  # fields of an `open` entry with no end entry after it
        valid = 0
        whole_lines_bad = False
        try:
            f = open(self._path, "rb")
        except OSError:
            return 0, 0, False
        with f:
            first = True
            while True:
                line = f.readline()
                if not line:
                    break
                if line[-1] != 0x0A:
                    break  # torn last line
                line = line[:-1]
                if first and line[:2] == b"A ":
                    anchor = _parse_anchor(line)
                    if anchor is None:
                        whole_lines_bad = True
                        break
                    self._anchor = anchor[:2]
                    self._seq, self._hash, self._max_counter, self._last_tag = anchor
                else:
                    e = _parse_entry(line, self._hash)
                    if e is None or e[0] != self._seq + 1:
                        whole_lines_bad = True
                        break
                    self._seq, self._hash, obj = e
                    self._count += 1
                    self._note(obj)
                first = False
                valid += len(line) + 1
            f.seek(0, 2)
            size = f.tell()
        return valid, size, whole_lines_bad

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
        valid, size, bad = self._scan()
        if valid < size:
            self._rewrite(valid)
            self.repaired = size - valid
            if bad:
                self.append("repair", {"dropped_bytes": size - valid}, 0)
        if self._count > self._max:  # a cut landed between an append and its compaction
            self._compact(self._count - (self._max - self._max // 8))

    def _rewrite(self, nbytes):
        """Keep the first nbytes of the log (a whole number of lines), atomically."""
        tmp = self._path + ".tmp"
        with open(self._path, "rb") as src, open(tmp, "wb") as dst:
            left = nbytes
            while left > 0:
                block = src.read(min(left, 512))
                if not block:
                    break
                dst.write(block)
                left -= len(block)
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
                if line[:2] == b"A ":
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
