"""Serial protocol v1, host side (docs/protocol.md; firmware/earshot/proto.py is the board).

Host -> board: `@E1 <seq> <crc32 hex8> <json>\\n` (ASCII, REPL-safe).
Board -> host: `E5 5E | ver | type | seq u16 | len u16 | payload | crc32` (binary, LE).
"""

import json
import struct
import zlib
from dataclasses import dataclass

VERSION = 1
MAGIC = b"\xe5\x5e"
T_EVENT = 0x01
T_SESSION_HEADER = 0x10
T_SESSION_CHUNK = 0x11
T_SESSION_CLOSE = 0x12
MAX_PAYLOAD = 4096
_HDR = 8
TYPE_NAMES = {T_EVENT: "event", T_SESSION_HEADER: "header", T_SESSION_CHUNK: "chunk",
              T_SESSION_CLOSE: "close"}


def encode_command(seq, cmd):
    """One host->board command line."""
    body = json.dumps(cmd, separators=(",", ":")).encode()
    return b"@E%d %d %08x %s\n" % (VERSION, seq, zlib.crc32(body), body)


def encode_frame(ftype, seq, payload, version=VERSION):
    """One board->host frame (used by tests and by tools that replay captures)."""
    head = MAGIC + struct.pack("<BBHH", version, ftype, seq & 0xFFFF, len(payload))
    return head + payload + struct.pack("<I", zlib.crc32(head[2:] + payload))


@dataclass
class Frame:
    type: int  # T_EVENT, T_SESSION_*
    seq: int  # board's frame counter, wraps at 65536
    payload: bytes

    def event(self):
        """The JSON object of an event frame (FrameParser hands out no other)."""
        return json.loads(self.payload)


def _is_event(payload):
    """An event frame's payload is one JSON object (docs/protocol.md)."""
    try:
        return isinstance(json.loads(payload), dict)
    except ValueError:  # not JSON, or not UTF-8
        return False


class FrameParser:
    """Splits the board's byte stream into frames; everything else is `noise`.

    Resynchronises after garbage, a bad checksum or a half-sent frame: a candidate frame that
    does not check out is skipped one byte at a time until the next magic.
    """

    def __init__(self):
        self._buf = bytearray()
        self.noise = bytearray()  # non-frame bytes (REPL text, boot messages), capped
        self.bad_frames = 0
        self.versions_seen = set()

    def feed(self, data):
        self._buf += data
        frames = []
        buf = self._buf
        while True:
            i = buf.find(MAGIC)
            if i < 0:
                keep = 1 if buf.endswith(MAGIC[:1]) else 0
                self._noise(buf[: len(buf) - keep])
                del buf[: len(buf) - keep]
                break
            if i:
                self._noise(buf[:i])
                del buf[:i]
            if len(buf) < _HDR:
                break
            version, ftype, seq, n = struct.unpack_from("<BBHH", buf, 2)
            if n > MAX_PAYLOAD:
                self.bad_frames += 1
                self._noise(buf[:1])
                del buf[:1]
                continue
            if len(buf) < _HDR + n + 4:
                j = self._whole_frame_after(buf)
                if j is None:
                    break
                # A frame the board cut short (it stops writing when the host stops reading,
                # firmware/earshot/proto.py), followed by whole ones: without this its declared
                # length would swallow them.
                self.bad_frames += 1
                self._noise(buf[:j])
                del buf[:j]
                continue
            (crc,) = struct.unpack_from("<I", buf, _HDR + n)
            if zlib.crc32(bytes(buf[2 : _HDR + n])) != crc:
                self.bad_frames += 1
                self._noise(buf[:1])
                del buf[:1]
                continue
            self.versions_seen.add(version)
            payload = bytes(buf[_HDR : _HDR + n])
            if version == VERSION and ftype == T_EVENT and not _is_event(payload):
                # It checks out but is no event (a glitch, another program on the port, a
                # buggy board): skipped like noise, so every reader can rely on Frame.event().
                self.bad_frames += 1
                self._noise(buf[: _HDR + n + 4])
            elif version == VERSION:
                frames.append(Frame(ftype, seq, payload))
            del buf[: _HDR + n + 4]
        return frames

    @staticmethod
    def _whole_frame_after(buf):
        """Where, after the incomplete frame at buf[0], a complete frame that checks out
        starts; None if nowhere."""
        j = buf.find(MAGIC, 2)
        while j >= 0 and len(buf) - j >= _HDR + 4:
            n = struct.unpack_from("<H", buf, j + 6)[0]
            end = j + _HDR + n
            if n <= MAX_PAYLOAD and len(buf) >= end + 4 and \
                    zlib.crc32(bytes(buf[j + 2 : end])) == struct.unpack_from("<I", buf, end)[0]:
                return j
            j = buf.find(MAGIC, j + 1)
        return None

    def flush_partial(self):
        """Give up on a half-received frame (after a timeout): treat it as noise."""
        self._noise(self._buf[:1])
        del self._buf[:1]
        return self.feed(b"")

    @property
    def pending(self):
        return len(self._buf)

    def _noise(self, data):
        self.noise += data
        if len(self.noise) > 65536:
            del self.noise[:-65536]
