# The Earshot application: wires the hardware layer, the mute interlock, consent, the gate,
# the wake-word detector, signed streaming, the transparency log and the serial protocol.
# One non-blocking step() per 20 ms audio frame; run() loops it and fails closed on any exit.
import binascii
import gc

from micropython import const

from earshot import VERSION, gate, proto, store
from earshot.buttons import Buttons
from earshot.consent import Consent, flag_names
from earshot.hw import BUTTON_ACTION, BUTTON_MUTE
from earshot.mute import MuteInterlock
from earshot.ring import Ring
from earshot.session import SessionSigner
from earshot.stream import Streamer
from earshot.testfeed import TestFeed
from earshot.translog import TransparencyLog
from earshot.vad import Vad

DATA = "/data"  # state, identity, counter and log; never touched by deploy
_PREROLL_BYTES = const(16000)  # 0.5 s of pre-wake audio, sent only with `preroll` consent
_WDT_MS = const(5000)
_CONFIRM_MS = const(10000)


class App:
    def __init__(self, hw, detector=None, reset_cause=1, data=DATA):
        self.hw = hw
        self._state = data + "/state.json"
        self._counter = data + "/counter.json"
        self._identity = data + "/identity.json"
        self._log_path = data + "/log.txt"
        n = hw.FRAME_SAMPLES
        self.frame = bytearray(n * 2)
        self._rx = bytearray(1024)  # one command line per frame, feed lines included
        self.ring = Ring(_PREROLL_BYTES)
        self.writer = proto.FrameWriter(hw.serial_write)
        self.reader = proto.CommandReader()
        self.gate = gate.Gate(self._transition)
        self.vad = Vad()
        self.buttons = Buttons((BUTTON_MUTE, BUTTON_ACTION))
        self.detector = detector
        self.streamer = None
        self.session_id = None
        self.session_wake = ""
        self._pending = None  # (kind, data, deadline_ms, seq): waits for an action press
        self.test_mode = bool(hw.board.get("test_mode"))
        self.feed = TestFeed() if self.test_mode else None
        buffers = (self.frame, self.ring, self.feed) if self.feed else (self.frame, self.ring)
        self.mute = MuteInterlock(hw, buffers, self._mute_changed)
        # Fail closed until the stored state is read (privacy contract point 3).
        self.mute.fail_safe()
        _mkdir(data)
        self.log = TransparencyLog(self._log_path)
        self.identity = store.load(self._identity) or {}
        self._load_signer()
        saved = store.load(self._state) or {}
        self._led = None
        self.consent = Consent.from_state(saved.get("consent"), on_change=self._consent_changed,
                                          log=self._note)
        self._show_consent(0)
        # Only a clean power-on restores "unmuted"; any reset, crash, watchdog bite or a
        # corrupt state file keeps the mic off until someone presses the button.
        if reset_cause == 1 and saved.get("muted") is False:
            self.mute.apply(False, "restore")
        if self.test_mode:
            # Test mode is never silent: it is in the log and on the status LED.
            self.log.append("test_mode", {"on": True}, hw.ticks_ms())
        self.event("boot", version=VERSION, board=hw.board.get("id"), muted=self.mute.muted,
                   reset_cause=reset_cause, provisioned=self.signer is not None,
                   test_mode=self.test_mode)

    # -- events and logging ----------------------------------------------------------------------

    def event(self, ev, **fields):
        self.writer.event(ev, **fields)

    def _transition(self, machine, old, new, why):
        self.event("state", m=machine, old=old, new=new, why=why, t=self.hw.ticks_ms())

    def _mute_changed(self, muted, source):
        self._transition("mute", "unmuted" if muted else "muted",
                         "muted" if muted else "unmuted", source)
        self.log.mute(self.hw.ticks_ms(), muted, source)
        self._save()

    def _note(self, text):
        self.event("note", text=text, t=self.hw.ticks_ms())

    def _consent_changed(self, change, now_ms):
        self.log.consent(now_ms, change)
        self.event("consent", t=now_ms, **self.describe_consent())
        self._save()
        if self.gate.state == gate.OPEN and not self.consent.allows_streaming():
            self._close_session("consent")

    def describe_consent(self):
        c = self.consent
        return {"preset": c.preset, "flags": flag_names(c.flags), "guest": c.guest,
                "pending": c.pending}

    def _show_consent(self, now):
        colour = self.consent.led_colour(now)
        if self.test_mode and (now // 500) & 1:
            colour = (255, 255, 255)  # test mode: the preset colour alternates with white
        if colour != self._led:
            self._led = colour
            self.hw.set_status_led(colour[0], colour[1], colour[2])

    def _save(self):
        store.save(self._state, {"muted": self.mute.muted, "consent": self.consent.state_dict()})

    def _load_signer(self):
        key = self.identity.get("key")
        dev = self.identity.get("device_id")
        self.signer = SessionSigner(binascii.unhexlify(key), dev) if key and dev else None

    # -- the loop --------------------------------------------------------------------------------

    def run(self):
        hw = self.hw
        hw.wdt_start(_WDT_MS)
        try:
            while True:
                self.step()
        finally:
            # Ctrl-C, an unhandled exception, anything: the mic goes off, the LED on.
            self.mute.fail_safe()

    def step(self):
        hw = self.hw
        frame = self.frame
        hw.read_frame(frame)
        if self.feed is not None:
            self.feed.take(frame, not self.mute.muted)
        hw.wdt_feed()
        now = hw.ticks_ms()
        events = self.buttons.update(hw.buttons(), now)
        if events:
            for kind, bit in events:
                self._on_button(kind, bit, now)
        n = hw.serial_read(self._rx)
        if n:
            for cmd in self.reader.feed(memoryview(self._rx)[:n]):
                self._on_command(cmd, now)
        self.consent.tick(now)
        self._show_consent(now)
        if self._pending and now > self._pending[2]:
            self._reply_error(self._pending[3], "not confirmed on the board in time")
            self._pending = None
        if self.mute.muted:
            return
        speech = self.vad.is_speech(frame, hw.FRAME_SAMPLES)
        if self.gate.state == gate.LISTENING:
            self.ring.push(frame)
            if self.detector is not None and self.detector.feed(frame):
                word = self.detector.word
                self.event("wake", word=word, score=self.detector.last_score, t=now)
                self._open_session(word, now)
        elif self.gate.state == gate.OPEN:
            self.streamer.add(frame)
            reason = self.gate.should_close(now, speech)
            if reason:
                self._close_session(reason)

    # -- sessions ------------------------------------------------------------------------------------

    def _open_session(self, wake, now):
        if not self.consent.allows_streaming():
            self.event("refused", why="consent does not allow streaming", wake=wake)
            return
        if self.signer is None:
            self.event("refused", why="not provisioned: run earshot provision", wake=wake)
            return
        floor = self.log.max_counter()
        counter = store.next_counter(self._counter, floor)
        sid = self.hw.urandom(8)
        flags = self.consent.flags
        if self.streamer is None:
            self.streamer = Streamer(self.signer, self.writer)
        preroll = self.consent.allows_preroll()
        start = now - (self.ring.filled // 32 if preroll else 0)
        self.streamer.open(sid, counter, wake, flags, start)
        self.session_id, self.session_wake, self.session_start = sid, wake, start
        self.session_counter = counter
        if preroll:
            for chunk in self.ring.chunks(3200):
                self.streamer.add(chunk)
        self.ring.zero()
        self.gate.open(now, wake)

    def _close_session(self, reason):
        if self.gate.state != gate.OPEN:
            return
        now = self.hw.ticks_ms()
        self.gate.set_state(gate.CLOSING, reason)
        s = self.streamer
        if reason == "mute":
            s.discard()  # what was not yet sent stays unsent
        digest = s.close(reason)
        nbytes = s.signer.nbytes
        self.log.session(now, self.session_id, self.session_counter, self.session_start,
                         nbytes // 32, nbytes, self.consent.flags, digest,
                         wake=self.session_wake, reason=reason)
        self.event("session", id=binascii.hexlify(self.session_id).decode(), end=reason,
                   bytes=nbytes, ms=nbytes // 32, counter=self.session_counter)
        if self.detector is not None:
            self.detector.reset()
        self.vad.reset()
        self.gate.set_state(gate.LISTENING, reason)
        gc.collect()

    # -- buttons -----------------------------------------------------------------------------------------

    def _on_button(self, kind, bit, now):
        if bit == BUTTON_MUTE and kind == "press":
            muted = not self.mute.muted
            if muted:
                self._close_session("mute")
            self.mute.apply(muted, "button")
            return
        if bit != BUTTON_ACTION:
            return
        if kind == "press" and self._pending:
            self._confirm_pending()
        elif kind == "press" and self.consent.pending:
            self.consent.confirm(now)
        elif kind == "press":
            if self.gate.state == gate.OPEN:
                self._close_session("host_stop")
            elif not self.mute.muted:
                self._open_session("ptt", now)
        elif kind == "long":
            self.consent.cycle(now)
        elif kind == "very_long":
            self.consent.set_guest(not self.consent.guest, "button", now)

    def _confirm_pending(self):
        kind, data, _, seq = self._pending
        self._pending = None
        if kind == "provision":
            self._provision(data, seq)

    # -- host commands ---------------------------------------------------------------------------------

    def _reply(self, seq, **fields):
        self.event("reply", re=seq, ok=True, **fields)

    def _reply_error(self, seq, message):
        self.event("error", re=seq, error=message)

    def _on_command(self, item, now):
        seq = item[0]
        cmd = item[1]
        if cmd is None:
            self._reply_error(seq, item[2])
            return
        name = cmd["cmd"]
        handler = _COMMANDS.get(name)
        if handler is None:
            self._reply_error(seq, "unknown command %r" % name)
            return
        try:
            handler(self, seq, cmd, now)
        except (ValueError, TypeError, KeyError) as e:
            self._reply_error(seq, "bad %s command: %s" % (name, e))

    def status(self):
        return {
            "version": VERSION, "protocol": proto.VERSION, "board": self.hw.board.get("id"),
            "muted": self.mute.muted, "consent": self.describe_consent(),
            "uptime_ms": self.hw.ticks_ms(), "gate": gate.NAMES[self.gate.state],
            "device_id": self.identity.get("device_id"), "provisioned": self.signer is not None,
            "log": {"entries": len(self.log), "head": self.log.head()[1]},
            "wake_word": self.detector.word if self.detector else None,
            "test_mode": self.test_mode,
        }

    def _cmd_status(self, seq, cmd, now):
        self._reply(seq, **self.status())

    def _cmd_mute(self, seq, cmd, now):
        # A host may make the board more private, never less.
        self._close_session("mute")
        self.mute.apply(True, "host")
        self._reply(seq, muted=True)

    def _cmd_unmute(self, seq, cmd, now):
        self._reply_error(seq, "only the mute button on the board unmutes")

    def _cmd_stop(self, seq, cmd, now):
        was_open = self.gate.state == gate.OPEN
        self._close_session("host_stop")
        self._reply(seq, stopped=was_open)

    def _cmd_consent(self, seq, cmd, now):
        if "guest" in cmd:
            result = self.consent.set_guest(bool(cmd["guest"]), "host", now)
        elif "preset" in cmd:
            result = self.consent.request(cmd["preset"], "host", now)
        else:
            result = "unchanged"
        self._reply(seq, result=result, consent=self.describe_consent())

    def _cmd_log(self, seq, cmd, now):
        # The raw lines, exactly as stored, so the host verifies the hash chain itself.
        batch = []
        count = 0
        try:
            f = open(self._log_path, "rb")
        except OSError:
            f = None
        if f:
            with f:
                for line in f:
                    batch.append(line.decode())
                    count += 1
                    if len(batch) == 8:
                        self.event("log", lines=batch)
                        batch = []
        if batch:
            self.event("log", lines=batch)
        self._reply(seq, head=self.log.head(), lines=count)

    def _cmd_feed(self, seq, cmd, now):
        if self.feed is None:
            self._reply_error(seq, "feed needs test mode: earshot deploy --test-mode")
            return
        pcm = binascii.a2b_base64(cmd["pcm"])
        if len(pcm) % 2 or not self.feed.put(pcm):
            self._reply_error(seq, "feed buffer full or odd length; free %d" % self.feed.free())
            return
        self._reply(seq, free=self.feed.free())

    def _cmd_provision(self, seq, cmd, now):
        key = binascii.unhexlify(cmd["key"])
        dev = str(cmd["device_id"])
        if len(key) != 32 or not dev:
            raise ValueError("need a 32-byte key and a device id")
        if self.signer is not None:
            # Replacing a key is a change of who can vouch for this board's audio.
            self._pending = ("provision", (dev, key), now + _CONFIRM_MS, seq)
            self.event("confirm", what="provision", seconds=_CONFIRM_MS // 1000)
            return
        self._provision((dev, key), seq)

    def _provision(self, data, seq):
        dev, key = data
        store.save(self._identity, {"device_id": dev, "key": binascii.hexlify(key).decode()})
        self.identity = store.load(self._identity) or {}
        self._load_signer()
        self.streamer = None
        self.log.append("provision", {"device_id": dev}, self.hw.ticks_ms())
        self._reply(seq, device_id=dev)


_COMMANDS = {
    "hello": App._cmd_status,
    "status": App._cmd_status,
    "mute": App._cmd_mute,
    "unmute": App._cmd_unmute,
    "stop": App._cmd_stop,
    "consent": App._cmd_consent,
    "log": App._cmd_log,
    "provision": App._cmd_provision,
    "feed": App._cmd_feed,
}


def _mkdir(path):
    import os

    try:
        os.mkdir(path)
    except OSError:
        pass
