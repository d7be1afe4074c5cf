# Pre-wake ring buffer (docs/privacy-contract.md, point 1): RAM only, fixed size, overwritten
# in place.
# Its content leaves the board only as pre-roll, and only when consent has `preroll`.
import micropython


class Ring:
    def __init__(self, nbytes):
        self.buf = bytearray(nbytes)
        self._pos = 0
        self.filled = 0

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

    def chunks(self, nbytes):
        # Oldest first, as slices no longer than nbytes (only called when a session opens).
        size = len(self.buf)
        start = (self._pos - self.filled) % size
        left = self.filled
        while left > 0:
            n = min(nbytes, left, size - start)
            yield memoryview(self.buf)[start : start + n]
            start = (start + n) % size
            left -= n

    def zero(self):
        _zero(self.buf, len(self.buf))
        self._pos = 0
        self.filled = 0


@micropython.viper
def _zero(buf: ptr8, n: int):
    for i in range(n):
        buf[i] = 0
