# Button gestures from a bitmask sampled once per audio frame (20 ms: that is the debounce).
# Events: ("press", bit) on release after a short press, ("long", bit) once when held past
# LONG_MS, ("very_long", bit) once when held past VERY_LONG_MS, ("chord", mask) when all the
# buttons are first down together (hold_began is then the board time the first of them went
# down), and ("both", mask) once when they have been held together for BOTH_MS: the confirm
# gesture. Once the buttons were down together, none of them reports anything else until it is
# released, so a chord is never also a push-to-talk, a mute toggle or a preset change.
#
# The confirm gesture counts samples as well as time: the chord must be seen in every frame of
# the hold, BOTH_FRAMES of them in a row, so two samples that happen to catch a short chord
# across a late frame (a flash write, a stall) never add up to half a second.
# Board times are hw.ticks_ms() values, compared with hw.ticks_diff: they wrap on the board.
from micropython import const

LONG_MS = const(1500)
VERY_LONG_MS = const(4000)
BOTH_MS = const(500)
_FRAME_MS = const(20)  # one sample per audio frame (hw.FRAME_SAMPLES at 16 kHz)
BOTH_FRAMES = const(25)  # BOTH_MS // _FRAME_MS consecutive samples with the chord down
_CHORD = const(3)  # a _fired level: part of a chord, silent until released


def _diff(a, b):
    return a - b


class Buttons:
    def __init__(self, bits, ticks_diff=_diff):
        self._bits = bits  # e.g. (BUTTON_MUTE, BUTTON_ACTION)
        self._diff = ticks_diff
        self._all = 0
        for bit in bits:
            self._all |= bit
        self._down_at = {}
        self._fired = {}
        self._prev = 0
        self._chord_at = -1  # board time all buttons went down together, -1 when not (ticks >= 0)
        self._chord_frames = 0  # samples in a row that saw the chord
        self._chord_done = False
        self.hold_began = -1  # board time the first button of the current chord went down

    def prime(self, mask, now_ms):
        """Buttons already held (a boot gesture): their hold and release report nothing."""
        for bit in self._bits:
            if mask & bit:
                self._down_at[bit] = now_ms
                self._fired[bit] = _CHORD
        self._prev = mask
        if mask and mask & self._all == self._all:
            self._chord_at = now_ms
            self.hold_began = now_ms
            self._chord_done = True  # the boot gesture is not also a confirmation

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
        if mask & self._all == self._all:
            self._chord_frames += 1
            if self._chord_at < 0:
                self._chord_at = now_ms
                self._chord_frames = 1
                self._chord_done = False
                began = now_ms
                for bit in self._bits:
                    self._fired[bit] = _CHORD
                    if self._diff(self._down_at[bit], began) < 0:
                        began = self._down_at[bit]
                self.hold_began = began
                events = (events or []) + [("chord", self._all)]
            elif not self._chord_done and self._chord_frames >= BOTH_FRAMES and \
                    self._diff(now_ms, self._chord_at) >= BOTH_MS:
                self._chord_done = True
                events = (events or []) + [("both", self._all)]
        else:
            self._chord_at = -1
            self._chord_frames = 0
        return events
