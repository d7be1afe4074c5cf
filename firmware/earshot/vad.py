# A small energy-based voice activity detector: is this frame speech-loud, relative to an
# adaptive noise floor? Used to end a session at end of speech (docs/privacy-contract.md, point 7).
import micropython
from micropython import const

_FLOOR_MIN = const(30)  # mean |sample| below this is silence whatever the floor says


@micropython.viper
def mean_abs(buf: ptr16, n: int) -> int:
    # ptr16 reads unsigned halfwords; fold to |int16|. Sum <= 320 * 32768 fits int32.
    s = 0
    for i in range(n):
        v = buf[i]
        if v >= 32768:
            v = 65536 - v
        s += v
    return s // n


class Vad:
    def __init__(self, ratio=3, absolute=300):
        self.floor = _FLOOR_MIN
        self._ratio = ratio
        self._abs = absolute
        self.level = 0

    def is_speech(self, frame, nsamples):
        level = mean_abs(frame, nsamples)
        self.level = level
        # The floor follows quiet frames quickly down and loud ones very slowly up (a time
        # constant of about 10 s), so a long sentence is not mistaken for background noise.
        if level < self.floor:
            self.floor = max(_FLOOR_MIN, (self.floor * 3 + level) // 4)
        else:
            self.floor += (level - self.floor) >> 9
        return level > self._abs and level > self.floor * self._ratio

    def reset(self):
        self.floor = _FLOOR_MIN
        self.level = 0
