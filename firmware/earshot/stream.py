# Streams one signed session to the host: header, numbered chunks, close record
# (docs/privacy-contract.md, point 4). Chunks are assembled in one preallocated buffer.
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
        self._fill = 0
        self.sent_bytes = 0  # PCM bytes of the open session

    def open(self, session_id, counter, wake_word, flags, start_ms):
        header = self.signer.open(session_id, counter, wake_word, flags, start_ms)
        self._writer.send(proto.T_SESSION_HEADER, header)
        self._fill = 0
        self.sent_bytes = 0

    def add(self, pcm):
        mv = memoryview(pcm)
        n = len(pcm)
        off = 0
        while off < n:
            take = min(CHUNK_BYTES - self._fill, n - off)
            start = CHUNK_PREFIX_SIZE + self._fill
            self._mv[start : start + take] = mv[off : off + take]
            self._fill += take
            off += take
            if self._fill == CHUNK_BYTES:
                self._flush()

    def _flush(self):
        n = self._fill
        if not n:
            return
        end = CHUNK_PREFIX_SIZE + n
        _, tag = self.signer.chunk(self._mv[CHUNK_PREFIX_SIZE:end])
        self._mv[:CHUNK_PREFIX_SIZE] = self.signer.prefix
        self._mv[end : end + TAG_SIZE] = tag
        self._writer.send(proto.T_SESSION_CHUNK, self._mv[: end + TAG_SIZE])
        self.sent_bytes += n
        self._fill = 0

    def close(self, reason):
        self._flush()
        record = self.signer.close(reason)
        self._writer.send(proto.T_SESSION_CLOSE, record)
        return self.signer.digest

    def discard(self):
        # Zero the unsent tail (mute or error): it never leaves the board.
        for i in range(len(self._buf)):
            self._buf[i] = 0
        self._fill = 0
