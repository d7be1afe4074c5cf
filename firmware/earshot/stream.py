# Streams one signed session to the host: header, numbered chunks, close record
# (docs/privacy-contract.md, point 4). Chunks are assembled in one preallocated buffer.
#
# Pacing (docs/protocol.md, "serial budget"): writing to the serial port blocks the loop, and a
# loop that falls more than the I2S DMA buffer (80 ms) behind loses audio. So audio waits in a
# FIFO (the pre-roll ring: the pre-roll itself, when consent allows it, is its first content)
# and pump() sends one whole chunk only while the loop is on time; a FIFO that fills up is sent
# at once, whatever it costs. Audio the board lost anyway (the DMA overflowed) is never spliced
# over: gap() marks the FIFO position, the chunk before it ends there, and a signed gap record
# takes the next chunk index (earshot.session), so the receiver sees exactly where audio is
# missing and that the board declared it. Marking costs nothing at once: a late loop is not
# made later.
from micropython import const

from earshot import proto
from earshot.session import CHUNK_PREFIX_SIZE, TAG_SIZE

CHUNK_BYTES = const(3200)  # 100 ms of 16 kHz int16 audio per chunk


class Streamer:
    def __init__(self, signer, writer):
        self.signer = signer
        self._writer = writer
        self._buf = bytearray(CHUNK_PREFIX_SIZE + CHUNK_BYTES + TAG_SIZE)
        self._mv = memoryview(self._buf)
        self._fifo = None
        self._gap_at = -1  # FIFO bytes before a marked gap, or -1
        self.sent_bytes = 0  # PCM bytes of the open session
        self.gaps = 0  # chunk indices skipped for audio the board lost

    def begin(self, session_id, counter, wake_word, flags, start_ms, prev, fifo):
        """Sign the header (nothing is sent yet: the caller logs it first, then send_header).
        `fifo` (a ring.Ring) holds the pre-roll to send first, or nothing."""
        header = self.signer.open(session_id, counter, wake_word, flags, start_ms, prev)
        self._fifo = fifo
        self._gap_at = -1
        self.sent_bytes = 0
        self.gaps = 0
        return header

    def send_header(self, header):
        self._writer.send(proto.T_SESSION_HEADER, header)

    def add(self, pcm):
        """Queue audio; True if the FIFO was full and a chunk had to go out at once."""
        fifo = self._fifo
        forced = False
        while fifo.room() < len(pcm):
            self._send()  # the line fell this far behind: send now rather than lose audio
            forced = True
        fifo.push(pcm)
        return forced

    def pump(self, may_send):
        """Send one whole chunk (or the audio before a gap) if `may_send` (the loop is on
        time)."""
        if may_send and (self._fifo.filled >= CHUNK_BYTES or self._gap_at >= 0):
            self._send()
            return True
        return False

    def gap(self):
        """Audio was lost before the frame about to be added: mark it in the session."""
        if self._gap_at >= 0:
            while self._gap_at >= 0:  # a second gap before the first went out: send up to it
                self._send()
        self._gap_at = self._fifo.filled
        self.gaps += 1
        if not self._gap_at:
            self._skip()

    def splice(self):
        """Audio may be missing before the frame about to be added, by an unknown amount (a
        flash write masked the I2S interrupt): mark it, unless nothing came before it."""
        if self.sent_bytes or self._fifo.filled:
            self.gap()

    def _skip(self):
        # A signed gap record takes the next chunk index: the receiver sees where audio is
        # missing, and that the board said so (a chunk lost on the way leaves a hole instead).
        self._writer.send(proto.T_SESSION_CHUNK, self.signer.gap())
        self._gap_at = -1

    def _send(self):
        n = min(CHUNK_BYTES, self._fifo.filled)
        if self._gap_at >= 0:
            n = min(n, self._gap_at)
        if not n:
            if self._gap_at == 0:
                self._skip()
            return
        end = CHUNK_PREFIX_SIZE + n
        self._fifo.pop_into(self._mv[CHUNK_PREFIX_SIZE:end], n)
        _, tag = self.signer.chunk(self._mv[CHUNK_PREFIX_SIZE:end])
        self._mv[:CHUNK_PREFIX_SIZE] = self.signer.prefix
        self._mv[end : end + TAG_SIZE] = tag
        self._writer.send(proto.T_SESSION_CHUNK, self._mv[: end + TAG_SIZE])
        self.sent_bytes += n
        if self._gap_at >= 0:
            self._gap_at -= n
            if not self._gap_at:
                self._skip()

    def _send_all(self):
        while self._fifo.filled or self._gap_at >= 0:
            self._send()

    def close(self, reason):
        self._send_all()
        record = self.signer.close(reason)
        self._writer.send(proto.T_SESSION_CLOSE, record)
        self._fifo.zero()
        return self.signer.digest

    def discard(self):
        # Zero the unsent audio (mute or error): it never leaves the board.
        for i in range(len(self._buf)):
            self._buf[i] = 0
        self._fifo.zero()
        self._gap_at = -1
