# Button gestures from a bitmask sampled once per audio frame (20 ms: that is the debounce).
# Events: ("press", mask) on release after a short press, ("long", mask) once when held past
# LONG_MS, ("very_long", mask) once when held past VERY_LONG_MS.
# Board times are hw.ticks_ms() values, compared with hw.ticks_diff: they wrap on the board.
from micropython import const

LONG_MS = const(1500)
VERY_LONG_MS = const(4000)


def _diff(a, b):
    return a - b


class Buttons:
    def __init__(self, bits, ticks_diff=_diff):
        self._bits = bits  # e.g. (BUTTON_MUTE, BUTTON_ACTION)
        self._diff = ticks_diff
        self._down_at = {}
        self._fired = {}
        self._prev = 0

    def update(self, mask, now_ms):
        events = None
        for bit in self._bits:
            was = self._prev & bit
            is_ = mask & bit
            if is_ and not was:
                self._down_at[bit] = now_ms
                self._fired[bit] = 0
            elif is_:
                held = self._diff(now_ms, self._down_at[bit])
                level = 2 if held >= VERY_LONG_MS else 1 if held >= LONG_MS else 0
                if level > self._fired[bit]:
                    self._fired[bit] = level
                    events = (events or []) + [("long" if level == 1 else "very_long", bit)]
            elif was:
                if not self._fired.get(bit):
                    events = (events or []) + [("press", bit)]
        self._prev = mask
        return events
