# A host request that waits for the household's gesture on the board (privacy contract points 5
# and 9: a host may make the board more private at once, anything else needs a person at the
# board, and the gesture confirms only what the LED showed before the hold began).
#
# One request at a time, so what the household confirms is what they saw blinking: while one
# waits, another host request that needs the button is refused, not queued or swapped in.
#
# State machine (every transition through set_state(), which reports "confirm: X -> Y (why)"):
#   idle      nothing waits
#   waiting   `kind` ("consent" or "provision") asked for `target` (a preset name, a device id)
#             at board time `since`, on behalf of host command number `seq` (and of `by`, the
#             computer as it named itself); accept() within window_ms applies it, expired()
#             past the deadline or cancel() drops it
#
# What the gesture may confirm (the App asks at the hold's start and at its end):
# - `gen` changes with every change of the waiting request (asked, accepted, expired,
#   cancelled), so a hold that began under one request never confirms another, nor a request
#   that came while the buttons were held;
# - shown_for(t) is how long the status LED had shown the request at board time t (the App
#   calls show() when the LED first blinks it): it must be SHOWN_MS before the hold began.
# A host that withdrew a request (a more private choice, an interrupted command) may not ask
# again for COOLDOWN_MS: a slot freed under a hold is not refilled at once.
# Board times are hw.ticks_ms() values, compared with hw.ticks_diff (they wrap on the board).
from micropython import const

IDLE = const(0)
WAITING = const(1)
NAMES = ("idle", "waiting")

CONFIRM_MS = const(30000)  # long enough for a person across the room to walk to the board
SHOWN_MS = const(1000)  # the LED showed the request this long before the hold began
COOLDOWN_MS = const(5000)  # a host that withdrew a request waits this long to ask again
_GEN_MASK = const(0x3FFFFFFF)  # stays a small int


def _diff(a, b):
    return a - b


class Confirmation:
    def __init__(self, log_transition, window_ms=CONFIRM_MS, ticks_diff=_diff):
        self._log = log_transition  # log_transition(machine, old, new, why)
        self._diff = ticks_diff
        self.window_ms = window_ms
        self.state = IDLE
        self.kind = None
        self.target = None
        self.data = None
        self.by = None
        self.seq = 0
        self.since = 0
        self.gen = 0
        self.shown_at = None  # board time the LED first showed the request; None: not yet
        self._withdrawn_at = None  # board time a host last withdrew a request; None: not lately

    def set_state(self, new, why):
        old = self.state
        if old == new:
            return
        self.state = new
        self._log("confirm", NAMES[old], NAMES[new], why)

    def ask(self, kind, target, data, seq, now_ms, by=None):
        """Hold a request until the gesture; False (nothing changes) if another one waits."""
        if self.state == WAITING:
            return False
        self.kind = kind
        self.target = target
        self.data = data
        self.by = by
        self.seq = seq
        self.since = now_ms
        self.shown_at = None
        self.gen = (self.gen + 1) & _GEN_MASK
        self.set_state(WAITING, kind)
        return True

    def show(self, now_ms):
        """The status LED shows the waiting request from now on (first call counts)."""
        if self.state == WAITING and self.shown_at is None:
            self.shown_at = now_ms

    def shown_for(self, now_ms):
        """How long (ms) the LED had shown the waiting request at board time now_ms; -1 if it
        had not (nothing waits, not shown yet, or shown only after now_ms)."""
        if self.state != WAITING or self.shown_at is None:
            return -1
        d = self._diff(now_ms, self.shown_at)
        return d if d >= 0 else -1

    def withdrawn(self, now_ms):
        """A host freed the slot (its request was cancelled by its own doing)."""
        self._withdrawn_at = now_ms

    def cooldown_ms(self, now_ms):
        """How long before a host may ask again after withdrawing a request; 0: it may now."""
        if self._withdrawn_at is None:
            return 0
        left = COOLDOWN_MS - self._diff(now_ms, self._withdrawn_at)
        if left <= 0:
            self._withdrawn_at = None
            return 0
        return left

    def seconds_left(self, now_ms):
        if self.state != WAITING:
            return 0
        return max(0, (self.window_ms - self._diff(now_ms, self.since) + 999) // 1000)

    def accept(self, now_ms):
        """The household's gesture: the waiting request if still in time, else None."""
        if self.state != WAITING or self.expired(now_ms):
            return None
        return self._finish("accepted")

    def expired(self, now_ms):
        """Call every step: the request that just lapsed, or None (allocates nothing then)."""
        if self.state == WAITING and self._diff(now_ms, self.since) > self.window_ms:
            return self._finish("expired")
        return None

    def cancel(self, why):
        """Drop the waiting request (e.g. a more private choice was made meanwhile)."""
        if self.state != WAITING:
            return None
        return self._finish(why)

    def _finish(self, why):
        done = (self.kind, self.target, self.data, self.seq)
        self.kind = self.target = self.data = self.by = None
        self.shown_at = None
        self.gen = (self.gen + 1) & _GEN_MASK
        self.set_state(IDLE, why)
        return done
