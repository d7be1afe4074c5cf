# The board's speaker: Home Assistant's replies, announcements and a timer's end, sent by the
# host with the `play` command (docs/protocol.md; earshot/playcmd.py). Audio waits in a buffer
# allocated once; step() hands the hardware one frame per audio frame (the mic's clock paces
# both), and once the host has said `end` and the buffer has run dry the board reports
# `played` with what it played, in board time.
#
# Privacy while speaking (docs/sessions.md): the board's own voice must never wake it. While it
# plays, and for _TAIL_MS after (the room's echo, the amplifier's ring-down), busy() is true and
# the app does not feed the wake-word detector (a push-to-talk press still works: a person
# pressed it). Mute is unaffected: it cuts the microphone whatever the speaker does.
from micropython import const

_BYTES = const(8000)  # 0.25 s at 16 kHz: two command lines a frame keep it full (2x real time)
_START_BYTES = const(3200)  # start playing with 0.1 s queued (or at `end`): no stutter
_TAIL_MS = const(300)
IDLE = const(0)
FILLING = const(1)
PLAYING = const(2)
NAMES = ("idle", "filling", "playing")


class Speaker:
    def __init__(self, out, frame_bytes, transition, ticks_diff):
        self.out = out  # the hardware driver: start(), write(frame), stop()
        self.buf = bytearray(_BYTES)
        self._mv = memoryview(self.buf)  # slices of it copy without a bytes object
        self.frame = bytearray(frame_bytes)
        self._r = 0
        self._w = 0
        self.count = 0
        self.state = IDLE
        self._transition = transition
        self._diff = ticks_diff
        self._ending = False
        self._quiet_at = None  # when the last sound left the speaker (board ms)
        self.played = 0  # bytes of the utterance played so far
        self.underruns = 0  # frames played as silence because the host was late
        # A driver that knows at once it cannot run (hw/speaker_esp32.py Es8311Speaker) says
        # so up front: the host then tells Home Assistant there is no speaker.
        self.fault = getattr(out, "fault", None)

    def set_state(self, new, why):
        old = self.state
        if old != new:
            self.state = new
            self._transition("speaker", NAMES[old], NAMES[new], why)

    def free(self):
        return _BYTES - self.count

    def put(self, pcm):
        n = len(pcm)
        if n > self.free():
            return False
        buf = self.buf
        w = self._w
        first = min(n, _BYTES - w)
        buf[w:w + first] = pcm[:first]
        if first < n:
            buf[0:n - first] = pcm[first:]
        self._w = (w + n) % _BYTES
        self.count += n
        if self.state == IDLE:
            self.played = 0
            self.underruns = 0
            self._ending = False
            self.set_state(FILLING, "audio")
        return True

    def end(self):
        """The host sent the utterance's last chunk: play out what is queued (an utterance
        with no audio at all is reported played at once)."""
        if self.state == IDLE:
            self.played = 0
            self.underruns = 0
            self.set_state(FILLING, "end")
        self._ending = True

    def cancel(self, why):
        self._r = self._w = self.count = 0
        self._ending = False
        if self.state == PLAYING:
            self.out.stop()
        self.set_state(IDLE, why)

    def playing(self):
        return self.state == PLAYING

    def busy(self, now):
        """True while the board speaks, and for the tail after: the detector must not hear."""
        if self.state == PLAYING:
            return True
        q = self._quiet_at
        if q is None:
            return False
        if self._diff(now, q) < _TAIL_MS:
            return True
        self._quiet_at = None
        return False

    def step(self, now):
        """One frame of playback; returns (ms played, underruns) once an utterance ends."""
        if self.state == FILLING:
            if self.count < _START_BYTES and not self._ending:
                return None
            if self.count == 0:  # `end` with nothing queued
                self.set_state(IDLE, "empty")
                return (0, 0)
            try:
                self.out.start()
            except OSError as e:
                self.fault = str(e)
                self.cancel("speaker fault")
                return None
            self.set_state(PLAYING, "queued")
        if self.state != PLAYING:
            return None
        frame = self.frame
        n = len(frame)
        if self.count >= n:
            mv = self._mv
            r = self._r
            first = min(n, _BYTES - r)
            frame[0:first] = mv[r:r + first]
            if first < n:
                frame[first:n] = mv[0:n - first]
            self._r = (r + n) % _BYTES
            self.count -= n
            self.played += n
        elif self._ending:
            # The last, partial frame: the rest is silence.
            k = self.count
            for i in range(n):
                frame[i] = 0
            for i in range(k):
                frame[i] = self.buf[(self._r + i) % _BYTES]
            self._r = self._w
            self.played += k
            self.count = 0
        else:
            for i in range(n):
                frame[i] = 0
            self.underruns += 1
        self.out.write(frame)
        self._quiet_at = now
        if self.count == 0 and self._ending:
            self.out.stop()
            self.set_state(IDLE, "played")
            return (self.played // 32, self.underruns)
        return None

    def describe(self, rate):
        return {"ok": self.fault is None, "rate": rate, "bytes": _BYTES, "fault": self.fault,
                "state": NAMES[self.state]}
