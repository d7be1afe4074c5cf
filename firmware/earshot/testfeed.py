# Test mode only (earshot deploy --test-mode): audio the host sends replaces the microphone,
# so a real board can be tested with known audio. It goes through exactly the same mute
# interlock, gate and consent as the microphone: while muted, fed audio is dropped unheard.


class TestFeed:
    def __init__(self, nbytes=16000):
        self.buf = bytearray(nbytes)
        self._r = 0
        self._w = 0
        self.count = 0

    def free(self):
        return len(self.buf) - self.count

    def put(self, data):
        n = len(data)
        if n > self.free():
            return False
        size = len(self.buf)
        for i in range(n):
            self.buf[(self._w + i) % size] = data[i]
        self._w = (self._w + n) % size
        self.count += n
        return True

    def take(self, frame, hear):
        """Move one frame of fed audio into `frame` (if `hear`), or drop it; True if any."""
        n = len(frame)
        if self.count < n:
            return False
        size = len(self.buf)
        r = self._r
        if hear:
            for i in range(n):
                frame[i] = self.buf[(r + i) % size]
        self._r = (r + n) % size
        self.count -= n
        return True

    def zero(self):
        for i in range(len(self.buf)):
            self.buf[i] = 0
        self._r = self._w = self.count = 0
