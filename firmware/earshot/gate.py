# The gate (docs/privacy-contract.md, points 1 and 7): an explicit state machine. Audio leaves the
# board only in OPEN; every transition goes through set_state(), which logs "X -> Y".
# Board times are hw.ticks_ms() values, compared with hw.ticks_diff: they wrap on the board.
from micropython import const

LISTENING = const(0)  # listening locally: audio only reaches the RAM ring and the detector
OPEN = const(1)  # a signed session is streaming
CLOSING = const(2)  # the close record is being sent and logged; nothing new is streamed
NAMES = ("listening", "open", "closing")

MAX_SESSION_MS = const(10000)
END_SILENCE_MS = const(800)  # this much silence after speech ends the session
NO_SPEECH_MS = const(3000)  # a session in which nobody speaks ends after this


def _diff(a, b):
    return a - b


class Gate:
    def __init__(self, log_transition, ticks_diff=_diff):
        self.state = LISTENING
        self._log = log_transition  # log_transition(machine, old, new, why)
        self._diff = ticks_diff
        self.opened_ms = 0
        self.last_speech_ms = 0
        self.heard = False  # speech since the session opened
        self.max_ms = MAX_SESSION_MS

    def set_state(self, new, why):
        old = self.state
        if old == new:
            return
        self.state = new
        self._log("gate", NAMES[old], NAMES[new], why)

    def open(self, now_ms, why):
        self.opened_ms = now_ms
        self.heard = False
        self.set_state(OPEN, why)

    def should_close(self, now_ms, speech):
        """Called once per frame while OPEN: the close reason, or None to keep streaming."""
        if speech:
            self.last_speech_ms = now_ms
            self.heard = True
        d = self._diff
        if d(now_ms, self.opened_ms) >= self.max_ms:
            return "max_length"
        if self.heard:
            if d(now_ms, self.last_speech_ms) >= END_SILENCE_MS:
                return "speech_end"
        elif d(now_ms, self.opened_ms) >= NO_SPEECH_MS:
            return "speech_end"
        return None
