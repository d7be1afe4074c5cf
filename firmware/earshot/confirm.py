# A host request that waits for the household's gesture on the board (privacy contract point 5:
# a host may make the board more private at once, anything else needs a person at the board).
#
# One request at a time, so what the household confirms is what they saw blinking: while one
# waits, another host request that needs the button is refused, not queued or swapped in.
#
# State machine (every transition through set_state(), which reports "confirm: X -> Y (why)"):
#   idle      nothing waits
#   waiting   `kind` ("consent" or "provision") asked for `target` (a preset name, a device id)
#             at board time `since`, on behalf of host command number `seq`; accept() within
#             window_ms applies it, expired() past the deadline or cancel() drops it
# Board times are hw.ticks_ms() values, compared with hw.ticks_diff (they wrap on the board).
from micropython import const

IDLE = const(0)
WAITING = const(1)
NAMES = ("idle", "waiting")

CONFIRM_MS = const(10000)


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
        self.seq = 0
        self.since = 0

    def set_state(self, new, why):
        old = self.state
        if old == new:
            return
        self.state = new
        self._log("confirm", NAMES[old], NAMES[new], why)

    def ask(self, kind, target, data, seq, now_ms):
        """Hold a request until the gesture; False (nothing changes) if another one waits."""
        if self.state == WAITING:
            return False
        self.kind = kind
        self.target = target
        self.data = data
        self.seq = seq
        self.since = now_ms
        self.set_state(WAITING, kind)
        return True

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
        self.kind = self.target = self.data = None
        self.set_state(IDLE, why)
        return done
