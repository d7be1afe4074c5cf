# The mute interlock (docs/privacy-contract.md, point 2): the ONE place that decides whether the
# microphone can hear. Muting powers the mic down and stops I2S (hw.mic_stop), zeroes every
# audio buffer it was given, then lights the mute LED. Unmuting turns the LED off first and
# starts the mic second. So at no instant is the LED lit while the mic can hear; the only
# possible transient is the harmless one (mic off, LED off). Both happen inside one audio
# frame: the caller runs this between two frame reads.
#
# Hardware mute wins, always: while a latched mute switch is at "mute" (hw.hardware_muted())
# nothing unmutes. A microphone that cannot start (a board this MicroPython build cannot drive,
# a dead codec) leaves the board muted: apply() says so, `fault` keeps the reason, and the mute
# LED, lit throughout, winks FAULT_WINKS times (dark for a moment, never while the mic is on)
# so the person who pressed the button sees the press was heard but refused.
from micropython import const

_WINK_MS = const(150)
FAULT_WINKS = const(3)


def _diff(a, b):
    return a - b


class MuteInterlock:
    def __init__(self, hw, buffers, on_change, ticks_diff=_diff):
        self._hw = hw
        self._buffers = buffers  # bytearrays / objects with zero() that may hold audio
        self._on_change = on_change  # on_change(muted, source)
        self._diff = ticks_diff
        self.muted = True
        self.fault = None  # why the microphone could not start, if it could not
        self._wink_since = None

    def apply(self, muted, source):
        """Force the hardware into `muted` (idempotent); report a change to on_change.
        Returns False when an unmute was refused (hardware mute, or a mic that cannot start)."""
        hw = self._hw
        requested = muted
        if not muted and hw.hardware_muted():
            muted = True  # the switch is at mute: nothing overrides it
            source = "switch"
        changed = muted != self.muted
        if muted:
            hw.mic_stop()
            for b in self._buffers:
                _zero(b)
            hw.set_mute_led(True)
        else:
            hw.set_mute_led(False)
            try:
                hw.mic_start()
            except OSError as e:
                # Stay muted with the LED telling the truth, and keep the reason.
                self.fail_safe()
                self.fault = str(e) or e.__class__.__name__
                return False
            self.fault = None
        self.muted = muted
        if changed:
            self._on_change(muted, source)
        return muted == requested

    def wink(self, now_ms):
        """Start the fault wink (after a refused unmute)."""
        self._wink_since = now_ms

    def tick(self, now_ms):
        """Every frame: drive the fault wink while muted; allocation-free when idle."""
        since = self._wink_since
        if since is None:
            return
        phase = self._diff(now_ms, since) // _WINK_MS
        if phase >= 2 * FAULT_WINKS or not self.muted:
            self._wink_since = None
            if self.muted:
                self._hw.set_mute_led(True)
            return
        self._hw.set_mute_led(bool(phase & 1))  # dark, lit, dark, lit ...

    def fail_safe(self):
        # From any state, including half-initialised ones: never raises.
        self.muted = True
        try:
            self._hw.fail_safe()
        except Exception:  # noqa: BLE001 - fail_safe must not raise; the HAL tried its best
            pass
        for b in self._buffers:
            try:
                _zero(b)
            except Exception:  # noqa: BLE001
                pass


def _zero(b):
    if hasattr(b, "zero"):
        b.zero()
    else:
        for i in range(len(b)):
            b[i] = 0
