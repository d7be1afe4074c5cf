# The mute interlock (docs/privacy-contract.md, point 2): the ONE place that decides whether the
# microphone can hear. Muting powers the mic down and stops I2S (hw.mic_stop), zeroes every
# audio buffer it was given, then lights the mute LED. Unmuting turns the LED off first and
# starts the mic second. So at no instant is the LED lit while the mic can hear; the only
# possible transient is the harmless one (mic off, LED off). Both happen inside one audio
# frame: the caller runs this between two frame reads.


class MuteInterlock:
    def __init__(self, hw, buffers, on_change):
        self._hw = hw
        self._buffers = buffers  # bytearrays / objects with zero() that may hold audio
        self._on_change = on_change  # on_change(muted, source)
        self.muted = True

    def apply(self, muted, source):
        """Force the hardware into `muted` (idempotent); report a change to on_change."""
        changed = muted != self.muted
        hw = self._hw
        if muted:
            hw.mic_stop()
            for b in self._buffers:
                _zero(b)
            hw.set_mute_led(True)
        else:
            hw.set_mute_led(False)
            try:
                hw.mic_start()
            except Exception:
                # A mic that cannot start (unsupported board, dead codec) leaves us muted,
                # with the LED telling the truth.
                self.fail_safe()
                raise
        self.muted = muted
        if changed:
            self._on_change(muted, source)

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
