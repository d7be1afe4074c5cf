# The household's consent (privacy contract point 5): five bit flags, all off by default, named
# presets cycled by a long press, a guest mode that forces everything off, and host requests that
# may make consent less private only after a button press on the board.
#
# State machine (every transition through set_state(), which logs "consent: X -> Y"):
#   steady      the chosen consent applies
#   confirming  a host asked for less private consent; the current consent still applies until
#               confirm() (a button press) within confirm_ms; tick() past the deadline, cancel(),
#               a long press or any new request leaves it without applying
# Every change of the applied consent calls on_change(event, time_ms) with
#   event = {"old": flags, "new": flags, "source": str, "preset": name, "guest": bool}
# so the caller can append it to the transparency log and update the status LED.
# Times are board milliseconds (hw.ticks_ms()), assumed not to wrap during a confirmation.

from micropython import const

CLOUD = const(1)  # may leave the home network
HUMAN_REVIEW = const(2)  # may be heard by people
RETAIN = const(4)  # may be stored after use
TRAINING = const(8)  # may train models
PREROLL = const(16)  # may include the wake word itself (the pre-wake ring buffer)
ALL = const(31)
FLAG_NAMES = ("cloud", "human_review", "retain", "training", "preroll")

# Cycle order of the long press. "history": the assistant, and recordings are kept for the
# household (no people, no training).
PRESETS = (
    ("private", 0),
    ("assistant", CLOUD),
    ("history", CLOUD | RETAIN),
    ("contribute", CLOUD | HUMAN_REVIEW | RETAIN | TRAINING | PREROLL),
)

# Status LED legend (docs/sessions.md). Red is left to the mute LED.
COLOURS = {
    "private": (0, 255, 0),  # green
    "assistant": (0, 0, 255),  # blue
    "history": (0, 255, 255),  # cyan
    "contribute": (255, 128, 0),  # amber
    "custom": (255, 255, 255),  # white: flags that match no preset
    "guest": (255, 0, 255),  # magenta: everything off for a visitor
}
BLINK_MS = const(250)  # confirming: the requested colour blinks, 250 ms on, 250 ms off

STEADY = const(0)
CONFIRMING = const(1)
STATE_NAMES = ("steady", "confirming")

APPLIED = "applied"
NEEDS_CONFIRMATION = "needs_confirmation"
UNCHANGED = "unchanged"

CONFIRM_MS = const(10000)
TRUSTED_SOURCE = "button"  # the physical button: the household at the board


def flag_names(flags):
    return [n for i, n in enumerate(FLAG_NAMES) if flags & (1 << i)]


def preset_name(flags, guest=False):
    if guest:
        return "guest"
    for name, f in PRESETS:
        if f == flags:
            return name
    return "custom"


def _noop(*args):
    pass


class Consent:
    def __init__(self, flags=0, guest=False, on_change=None, log=None, confirm_ms=CONFIRM_MS):
        if not isinstance(flags, int) or flags & ~ALL:
            raise ValueError("consent flags must be an int within 0..%d" % ALL)
        self._flags = flags  # the chosen preset's flags (kept while in guest mode)
        self._guest = bool(guest)
        self._on_change = on_change or _noop
        self._log = log or _noop
        self._confirm_ms = confirm_ms
        self.state = STEADY
        self._pending = None  # (flags, guest, source, requested_at_ms)

    # --- persistence: a missing or corrupt file (store.load -> None) gives the defaults

    @classmethod
    def from_state(cls, state, **kw):
        """Build from a store.load() dict; None or anything invalid gives private defaults."""
        try:
            return cls(state["flags"], state.get("guest", False), **kw)
        except (TypeError, KeyError, ValueError, AttributeError):
            return cls(0, False, **kw)

    def state_dict(self):
        """What to store.save(); a pending request is never stored."""
        return {"flags": self._flags, "guest": self._guest}

    # --- what applies now

    @property
    def flags(self):
        """The applied flags: all off in guest mode."""
        return 0 if self._guest else self._flags

    @property
    def guest(self):
        return self._guest

    @property
    def preset(self):
        return preset_name(self._flags, self._guest)

    def allows_streaming(self):
        # The board cannot know where a host forwards audio, so any audio leaving the board
        # counts as possibly leaving the home network: streaming needs `cloud`.
        return bool(self.flags & CLOUD)

    def allows_preroll(self):
        return self.allows_streaming() and bool(self.flags & PREROLL)

    def led_colour(self, now_ms):
        """(r, g, b) for the status LED at board time now_ms."""
        if self.state == CONFIRMING:
            flags, guest, _, since = self._pending
            if ((now_ms - since) // BLINK_MS) & 1:
                return (0, 0, 0)
            return COLOURS[preset_name(flags, guest)]
        return COLOURS[self.preset]

    # --- the state machine

    def set_state(self, state):
        if state != self.state:
            self._log("consent: %s -> %s" % (STATE_NAMES[self.state], STATE_NAMES[state]))
            self.state = state

    def _apply(self, flags, guest, source, now_ms):
        old = self.flags
        old_preset = self.preset
        self._flags = flags
        self._guest = guest
        if self.flags == old and self.preset == old_preset:
            return UNCHANGED
        self._on_change({"old": old, "new": self.flags, "source": source,
                         "preset": self.preset, "guest": guest}, now_ms)
        return APPLIED

    def _target(self, target):
        if isinstance(target, str):
            if target == "guest":
                return self._flags, True
            for name, f in PRESETS:
                if name == target:
                    return f, False
            raise ValueError("unknown preset %r: use private, assistant, history, contribute "
                             "or guest" % target)
        if not isinstance(target, int) or target & ~ALL or target < 0:
            raise ValueError("consent flags must be an int within 0..%d" % ALL)
        return target, False

    def request(self, target, source, now_ms):
        """Ask for a preset name, "guest" or int flags. Returns APPLIED, UNCHANGED or
        NEEDS_CONFIRMATION (a non-button source asked for less private consent)."""
        flags, guest = self._target(target)
        return self._request(flags, guest, source, now_ms)

    def set_guest(self, on, source, now_ms):
        """Guest mode on applies at once; off restores the chosen preset (confirmed if remote)."""
        return self._request(self._flags, bool(on), source, now_ms)

    def _request(self, flags, guest, source, now_ms):
        new = 0 if guest else flags
        if source != TRUSTED_SOURCE and new & ~self.flags:
            self._pending = (flags, guest, source, now_ms)
            self._log("consent: %s asks for %s, waiting for the button" %
                      (source, preset_name(flags, guest)))
            self.set_state(CONFIRMING)
            return NEEDS_CONFIRMATION
        self.cancel()
        return self._apply(flags, guest, source, now_ms)

    def cycle(self, now_ms):
        """A long press: the next preset (guest mode ends at `private`). Applies at once."""
        self.cancel()
        if self._guest:
            return self._apply(0, False, TRUSTED_SOURCE, now_ms)
        name = self.preset
        i = 0
        for j in range(len(PRESETS)):
            if PRESETS[j][0] == name:
                i = j + 1
        return self._apply(PRESETS[i % len(PRESETS)][1], False, TRUSTED_SOURCE, now_ms)

    def confirm(self, now_ms):
        """The button pressed while confirming: apply the pending request if still in time."""
        if self.state != CONFIRMING:
            return False
        flags, guest, source, since = self._pending
        if now_ms - since > self._confirm_ms:
            self.tick(now_ms)
            return False
        self._pending = None
        self.set_state(STEADY)
        self._apply(flags, guest, source + "+button", now_ms)
        return True

    def tick(self, now_ms):
        """Call every loop: a confirmation not given in time lapses (nothing changes)."""
        if self.state == CONFIRMING and now_ms - self._pending[3] > self._confirm_ms:
            self._log("consent: confirmation timed out")
            self.cancel()

    def cancel(self):
        """Drop a pending request; the applied consent stays."""
        self._pending = None
        self.set_state(STEADY)

    @property
    def pending(self):
        """The preset name waiting for confirmation, or None."""
        if self._pending is None:
            return None
        return preset_name(self._pending[0], self._pending[1])
