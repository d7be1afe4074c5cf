# The gate (docs/privacy-contract.md, points 1 and 7): an explicit state machine. Audio leaves the
# board only in OPEN; every transition goes through set_state(), which logs "X -> Y".
from micropython import const

LISTENING = const(0)  # listening locally: audio only reaches the RAM ring and the detector
OPEN = const(1)  # a signed session is streaming
CLOSING = const(2)  # the close record is being sent and logged; nothing new is streamed
NAMES = ("listening", "open", "closing")

MAX_SESSION_MS = const(10000)
END_SILENCE_MS = const(800)  # this much silence after speech ends the session
NO_SPEECH_MS = const(3000)  # a session in which nobody speaks ends after this


class Gate:
    def __init__(self, log_transition):
        self.state = LISTENING
        self._log = log_transition  # log_transition(machine, old, new, why)
        self.opened_ms = 0
        self.last_speech_ms = -1
        self.max_ms = MAX_SESSION_MS

    def set_state(self, new, why):
        old = self.state
        if old == new:
            return
        self.state = new
        self._log("gate", NAMES[old], NAMES[new], why)

    def open(self, now_ms, why):
        self.opened_ms = now_ms
        self.last_speech_ms = -1
        self.set_state(OPEN, why)

    def should_close(self, now_ms, speech):
        """Called once per frame while OPEN: the close reason, or None to keep streaming."""
        if speech:
            self.last_speech_ms = now_ms
        if now_ms - self.opened_ms >= self.max_ms:
            return "max_length"
        if self.last_speech_ms >= 0:
            if now_ms - self.last_speech_ms >= END_SILENCE_MS:
                return "speech_end"
        elif now_ms - self.opened_ms >= NO_SPEECH_MS:
            return "speech_end"
        return None
