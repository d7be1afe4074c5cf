# Pre-wake ring buffer (docs/privacy-contract.md, point 1): RAM only, fixed size, overwritten
# in place.
# Its content leaves the board only as pre-roll, and only when consent has `preroll`.
# While a session streams, the same buffer is the session's outgoing FIFO (stream.Streamer):
# audio waits here, oldest first, until the serial line has room for it (pop_into).
import micropython


class Ring:
    def __init__(self, nbytes):
        self.buf = bytearray(nbytes)
        self._mv = memoryview(self.buf)
        self._pos = 0
        self.filled = 0

    def room(self):
        return len(self.buf) - self.filled

    def pop_into(self, dst, n):
        """Move the oldest n bytes (n <= filled) into memoryview dst[:n], oldest first."""
        size = len(self.buf)
        start = (self._pos - self.filled) % size
        first = min(n, size - start)
        dst[:first] = self._mv[start : start + first]
        if n > first:
            dst[first:n] = self._mv[: n - first]
        self.filled -= n

    def push(self, frame):
        n = len(frame)
        size = len(self.buf)
        pos = self._pos
        end = pos + n
        if end <= size:
            self.buf[pos:end] = frame
        else:
            first = size - pos
            mv = memoryview(frame)
            self.buf[pos:] = mv[:first]
            self.buf[: n - first] = mv[first:]
        self._pos = end % size
        self.filled = min(size, self.filled + n)

    def zero(self):
        _zero(self.buf, len(self.buf))
        self._pos = 0
        self.filled = 0


@micropython.viper
def _zero(buf: ptr8, n: int):
    for i in range(n):
        buf[i] = 0
