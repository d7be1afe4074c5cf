# The household's consent (privacy contract point 5): five bit flags, all off by default, named
# presets cycled by a long press, a guest mode that forces everything off, and host requests that
# may make consent less private only after the household confirms on the board.
#
# The applied consent is the state; every change goes through apply(), which reports
# "consent: <preset> -> <preset> (<source>)" to log and calls on_change(event, time_ms) with
#   event = {"old": flags, "new": flags, "source": str, "preset": name, "guest": bool}
# so the caller can append it to the transparency log and update the status LED.
# Only the button (TRUSTED_SOURCE) may widen consent directly; a host's request that widens()
# it is held in a confirm.Confirmation until the household's gesture, then apply()d.

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
BLINK_MS = const(250)  # a request waiting for the button: its colour blinks, 250 ms on/off

APPLIED = "applied"
NEEDS_CONFIRMATION = "needs_confirmation"
UNCHANGED = "unchanged"

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
    def __init__(self, flags=0, guest=False, on_change=None, log=None):
        if not isinstance(flags, int) or flags & ~ALL:
            raise ValueError("consent flags must be an int within 0..%d" % ALL)
        self._flags = flags  # the chosen preset's flags (kept while in guest mode)
        self._guest = bool(guest)
        self._on_change = on_change or _noop
        self._log = log or _noop

    # --- persistence: a missing or corrupt file (store.load -> None) gives the defaults

    @classmethod
    def from_state(cls, state, **kw):
        """Build from a store.load() dict; None or anything invalid gives private defaults."""
        try:
            return cls(state["flags"], state.get("guest", False), **kw)
        except (TypeError, KeyError, ValueError, AttributeError):
            return cls(0, False, **kw)

    def state_dict(self):
        """What to store.save()."""
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

    def led_colour(self):
        """(r, g, b) of the applied preset on the status LED."""
        return COLOURS[self.preset]

    # --- changes

    def target(self, target):
        """A preset name, "guest" or int flags -> (flags, guest); ValueError for anything else."""
        if isinstance(target, str):
            if target == "guest":
                return self._flags, True
            for name, f in PRESETS:
                if name == target:
                    return f, False
            raise ValueError("unknown preset %r: use private, assistant, history, contribute "
                             "or guest" % target)
        if not isinstance(target, int) or isinstance(target, bool) or target & ~ALL or target < 0:
            raise ValueError("consent flags must be an int within 0..%d" % ALL)
        return target, False

    def widens(self, flags, guest):
        """True if applying (flags, guest) would allow something not allowed now."""
        return bool((0 if guest else flags) & ~self.flags)

    def apply(self, flags, guest, source, now_ms):
        """Apply (flags, guest) now: the button's choice, a more private request, or a request
        the household confirmed (source "host+button"). Returns APPLIED or UNCHANGED.
        Any other source that would widen consent is refused (ValueError): defence in depth."""
        if source != TRUSTED_SOURCE and not source.endswith("+button") and \
                self.widens(flags, guest):
            raise ValueError("only the button on the board makes consent less private")
        old = self.flags
        old_preset = self.preset
        self._flags = flags
        self._guest = bool(guest)
        if self.flags == old and self.preset == old_preset:
            return UNCHANGED
        self._log("consent: %s -> %s (%s)" % (old_preset, self.preset, source))
        self._on_change({"old": old, "new": self.flags, "source": source,
                         "preset": self.preset, "guest": self._guest}, now_ms)
        return APPLIED

    def set_guest(self, on, source, now_ms):
        """Guest mode on or off, keeping the chosen preset underneath (see apply())."""
        return self.apply(self._flags, on, source, now_ms)

    def cycle(self, now_ms):
        """A long press: the next preset (guest mode ends at `private`). Applies at once."""
        if self._guest:
            return self.apply(0, False, TRUSTED_SOURCE, now_ms)
        name = self.preset
        i = 0
        for j in range(len(PRESETS)):
            if PRESETS[j][0] == name:
                i = j + 1
        return self.apply(PRESETS[i % len(PRESETS)][1], False, TRUSTED_SOURCE, now_ms)
