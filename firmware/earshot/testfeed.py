# Test mode only (earshot deploy --test-mode, armed by the action button held at boot: see
# earshot/access.py): audio the host sends replaces the microphone, so a real board can be tested
# with known audio. It replaces it entirely: with nothing queued the frame is silence, never the
# room, so a session the host provoked (by feeding a wake word) cannot carry what the room says.
# Sessions opened in test mode are marked in their signed header (session.TEST_FLAG). Fed audio
# goes through the same mute interlock, gate and consent as the mic: while muted it is dropped
# unheard.


class TestFeed:
    def __init__(self, nbytes=16000):
        self.buf = bytearray(nbytes)
        self._r = 0
        self._w = 0
        self.count = 0
        self._zeros = None

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
        """Replace `frame` with one frame of fed audio (if `hear`; dropped otherwise), or with
        silence when less than a frame is queued; True if fed audio was taken."""
        n = len(frame)
        if self.count < n:
            if self._zeros is None or len(self._zeros) != n:
                self._zeros = bytes(n)  # once: the frame size never changes
            frame[:] = self._zeros
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
