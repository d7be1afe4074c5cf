# Serial protocol v1, board side (see docs/protocol.md).
#
# Host -> board: one ASCII line per command, REPL-safe (no control characters, so Ctrl-C and
# the raw REPL keep working while the firmware runs):
#     @E1 <seq> <crc32 of json, 8 hex> <json>\n
# Board -> host: binary frames, so audio travels without base64 bloat:
#     E5 5E | ver u8 | type u8 | seq u16 LE | len u16 LE | payload | crc32 LE (ver..payload)
import binascii
import json
import struct

from micropython import const

VERSION = const(1)
T_EVENT = const(1)  # payload: JSON object
T_SESSION_HEADER = const(0x10)  # payload: signed session header (earshot.session)
T_SESSION_CHUNK = const(0x11)  # payload: signed audio chunk
T_SESSION_CLOSE = const(0x12)  # payload: signed closing record
MAX_PAYLOAD = const(4096)
MAX_LINE = const(1024)
_HDR = const(8)


class FrameWriter:
    """Encodes board->host frames into one preallocated buffer and writes them."""

    def __init__(self, write):
        self._write = write
        self._buf = bytearray(_HDR + MAX_PAYLOAD + 4)
        self._mv = memoryview(self._buf)
        self._seq = 0
        self.stalled = False  # the host stopped reading: nothing is written until resume()
        self.unsent = 0  # frames not written (or cut) since it stopped
        self._buf[0] = 0xE5
        self._buf[1] = 0x5E
        self._buf[2] = VERSION

    def send(self, ftype, payload):
        n = len(payload)
        if n > MAX_PAYLOAD:
            raise ValueError("payload too long")
        b = self._buf
        self._seq = (self._seq + 1) & 0xFFFF
        struct.pack_into("<BHH", b, 3, ftype, self._seq, n)
        self._mv[_HDR : _HDR + n] = payload
        crc = binascii.crc32(self._mv[2 : _HDR + n])
        struct.pack_into("<I", b, _HDR + n, crc)
        if self.stalled:
            self.unsent += 1  # every write would block 0.5-1 s (hw.host_took): none is made
            return
        took = self._write(self._mv[: _HDR + n + 4])
        if took is not None and took < _HDR + n + 4:
            self.stalled = True  # this frame reached the host cut, or not at all
            self.unsent += 1

    def resume(self):
        """The host talks again: write again; returns how many frames it missed."""
        missed = self.unsent
        self.stalled = False
        self.unsent = 0
        return missed

    def event(self, ev, **fields):
        fields["ev"] = ev
        self.send(T_EVENT, json.dumps(fields).encode())


class CommandReader:
    """Accumulates host bytes; yields parsed commands and reports framing errors.

    feed(data) returns a list of (seq, cmd_dict) and (seq, None, error) tuples.
    Garbage, half-sent frames and bad checksums are reported, never fatal: the reader
    resynchronises on the next line, and on the last "@E" inside a line.
    """

    def __init__(self):
        self._line = bytearray()
        self._overflow = False

    def feed(self, data):
        out = []
        for c in data:
            if c == 10 or c == 13:
                if self._overflow:
                    out.append((0, None, "frame too long (max %d bytes)" % MAX_LINE))
                if self._line and (not self._overflow or self._line.rfind(b"@E") >= 0):
                    out.append(self._parse(bytes(self._line)))
                self._line = bytearray()
                self._overflow = False
            else:
                if len(self._line) >= MAX_LINE:
                    # Full: keep a frame that started after the junk before it (a host that
                    # sent garbage or Ctrl-C bytes without a newline still gets its next
                    # command through); with none, the line is too long and starts over.
                    i = self._line.rfind(b"@E", 1)
                    if i > 0:
                        self._line = self._line[i:]
                    else:
                        self._overflow = True
                        self._line = bytearray()
                self._line.append(c)
        return out

    @staticmethod
    def _parse(line):
        start = line.rfind(b"@E")
        if start < 0:
            return (0, None, "garbage on the line (%d bytes)" % len(line))
        line = line[start:]
        parts = line.split(b" ", 3)
        if len(parts) != 4 or len(parts[0]) < 3:
            return (0, None, "malformed frame")
        try:
            version = int(parts[0][2:])
            seq = int(parts[1])
            crc = int(parts[2], 16)
        except ValueError:
            return (0, None, "malformed frame header")
        if version != VERSION:
            return (seq, None, "unsupported protocol version %d (board speaks %d)" % (version, VERSION))
        if binascii.crc32(parts[3]) != crc:
            return (seq, None, "checksum mismatch")
        try:
            cmd = json.loads(parts[3])
        except ValueError:
            return (seq, None, "payload is not JSON")
        if not isinstance(cmd, dict) or not isinstance(cmd.get("cmd"), str):
            return (seq, None, "payload has no 'cmd'")
        return (seq, cmd)
