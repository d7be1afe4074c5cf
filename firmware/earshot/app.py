# The Earshot application: wires the hardware layer, the mute interlock, consent, the gate, the
# wake-word detector, forwarding (signed sessions), the transparency log and the serial protocol.
# step() handles one 20 ms audio frame: it blocks in hw.read_frame() for about one frame period
# (the audio clock paces the loop), then does bounded work; run() loops it and fails closed.
import binascii
import gc

from micropython import const

from earshot import VERSION, commands, gate, proto, store
from earshot.access import DEVELOPER, UNLOCKED, Access
from earshot.buttons import Buttons
from earshot.confirm import SHOWN_MS, WAITING, Confirmation
from earshot.consent import BLINK_MS, COLOURS, Consent, flag_names, preset_name
from earshot.forward import Forwarder
from earshot.hw import BUTTON_ACTION, BUTTON_MUTE
from earshot.logsend import LogSender
from earshot.mute import MuteInterlock
from earshot.ring import Ring
from earshot.session import SessionSigner
from earshot.testfeed import TestFeed
from earshot.translog import TransparencyLog
from earshot.vad import Vad

DATA = "/data"  # state, identity, counter and log; never touched by deploy
_PREROLL_BYTES = const(16000)  # 0.5 s of pre-wake audio, sent only with `preroll` consent
# Host bytes taken per frame: two command lines, so `play` (20 ms of audio a line) can fill the
# speaker's buffer faster than it plays.
_RX_BYTES = const(2048)
_WDT_MS = const(5000)
_MAX_ERROR = const(200)  # characters of an error message (JSON-escaped, still < 4096 bytes)
_PWRON_RESET = const(1)
_TEST_MODE_BLINK_MS = const(500)
_MEM_EVERY = const(63)  # sample the heap every 64 frames
# Frames after a flash write in a session that may still hold pieces of audio: the I2S DMA
# buffer (ibuf 32768, 256 ms) is read empty within 13 frames even by a loop that never waits.
_SPLICE_FRAMES = const(16)
_UNLOCKED_BLINK_MS = const(500)
# A log repair nobody has acknowledged at the board: the status colour, dark for the first
# _REPAIR_DARK_MS of every _REPAIR_FLICKER_MS (a flicker no other pattern has).
_REPAIR_FLICKER_MS = const(500)
_REPAIR_DARK_MS = const(100)
_WHITE = (255, 255, 255)
_DARK = (0, 0, 0)
# machine.reset_cause() numbering of the hw package (earshot/hw/__init__.py), for the log.
_CAUSES = ("?", "power-on", "hard reset", "watchdog", "deep sleep", "soft reset", "brown-out")


class App:
    def __init__(self, hw, detector=None, reset_cause=_PWRON_RESET, data=DATA, access=None):
        self.hw = hw
        # Who may do what (earshot/access.py): decided by main.py before the App starts.
        self.access = access or Access(DEVELOPER, False, 0, [])
        self._state_path = data + "/state.json"
        self._identity_path = data + "/identity.json"
        self.log_path = data + "/log.txt"
        self.frame = bytearray(hw.FRAME_SAMPLES * 2)
        self._rx = bytearray(_RX_BYTES)
        self.ring = Ring(_PREROLL_BYTES)
        self.writer = proto.FrameWriter(hw.serial_write)
        self.reader = proto.CommandReader()
        self.gate = gate.Gate(self._transition, hw.ticks_diff)
        self.confirmation = Confirmation(self._transition, ticks_diff=hw.ticks_diff)
        self.vad = Vad()
        self.buttons = Buttons((BUTTON_MUTE, BUTTON_ACTION), hw.ticks_diff)
        # Buttons still held from a boot gesture: their release is not a press.
        self.buttons.prime(self.access.gesture, hw.ticks_ms())
        self.detector = detector
        self.test_mode = self.access.test_mode
        self.feed = TestFeed() if self.test_mode else None
        buffers = (self.frame, self.ring, self.feed) if self.feed else (self.frame, self.ring)
        self.mute = MuteInterlock(hw, buffers, self._mute_changed, hw.ticks_diff)
        out = hw.speaker()
        self.speaker = None
        self.speaker_fault = None
        if out is not None and self.test_mode:
            # Test mode holds the host's audio in RAM (TestFeed); a board without PSRAM has no
            # room for the speaker's code and buffer beside it, so it has no speaker then.
            self.speaker_fault = "off in test mode (its RAM holds the fed audio)"
        elif out is not None:
            from earshot.speaker import Speaker

            gc.collect()  # the speaker's buffer is one block: give it an unfragmented heap
            try:
                self.speaker = Speaker(out, len(self.frame), self._transition, hw.ticks_diff)
            except MemoryError:
                self.speaker_fault = "no RAM left for the speaker's buffer"
        self._deaf = False  # the detector was kept from hearing the board's own voice
        self._switch_engaged = hw.hardware_muted()  # a latched mute switch's last state
        self._fault_logged = None
        self.lost_samples = 0  # audio the I2S DMA dropped because the loop was late
        self._saves = 0  # state files written (with log.writes: flash writes, see step)
        self._spliced = 0  # frames left that may hold pieces of audio (see step)
        self._steps = 0
        self.mem_peak = 0  # most heap in use, sampled every 64 frames
        self._led = None
        self._hold_gen = -1  # the waiting request's generation when the buttons' chord formed
        self._hold_seen = False  # ... and whether the LED had shown it SHOWN_MS by then
        self._cooldown_logged = False  # a refusal in the current cooldown is in the log
        # Fail closed until the stored state is read (privacy contract point 3).
        self.mute.fail_safe()
        _mkdir(data)
        self.log = TransparencyLog(self.log_path)
        self.log.compact_later = True  # a slice per frame (step), never a second-long stall
        self._log_boot(reset_cause)
        self.forwarder = Forwarder(self.writer, self.log, data + "/counter.json", hw.urandom,
                                   ticks_add=hw.ticks_add)
        self.log_sender = LogSender(self)
        self.identity = {}
        self._load_identity()
        saved = store.load(self._state_path) or {}
        self.consent = Consent.from_state(saved.get("consent"), on_change=self._consent_changed,
                                          log=self._note)
        self._show_status_led(0)
        # Only a clean power-on restores "unmuted"; any reset, crash, watchdog bite, brown-out
        # or a corrupt state file keeps the mic off until someone presses the button. So does an
        # unlock: while the serial port is open to the REPL the host could listen in. A
        # brown-out looks like a power-on upstream (hw.reset_cause_from tells them apart): the
        # supply failed under the board, so it fails closed (the boot entry names the cause).
        if reset_cause == _PWRON_RESET and saved.get("muted") is False and \
                self.access.mode != UNLOCKED:
            if not self.mute.apply(False, "restore"):
                self._unmute_refused("restore", hw.ticks_ms())
        self.event("boot", version=VERSION, board=hw.board.get("id"), muted=self.mute.muted,
                   reset_cause=reset_cause, provisioned=self.forwarder.signer is not None,
                   test_mode=self.test_mode, access=self.access.mode,
                   cpu_mhz=getattr(hw, "cpu_hz", 0) // 1_000_000)

    def _log_boot(self, reset_cause):
        # Every start is in the log with its cause, and so is a session the last run left open
        # (a power cut, a crash, a reset mid-session): its audio left without an end entry.
        # Test mode and an unlock are never silent either: logged here, shown on the LED.
        log = self.log
        now = self.hw.ticks_ms()
        cause = _CAUSES[reset_cause] if 0 < reset_cause < len(_CAUSES) else "?"
        log.append("boot", {"cause": cause, "access": self.access.mode, "version": VERSION,
                            "mhz": getattr(self.hw, "cpu_hz", 0) // 1_000_000}, now)
        left = log.open_session
        if left is not None:
            log.append("interrupted", {"id": left.get("id"), "counter": left.get("counter"),
                                       "cause": cause}, now)
        for kind, fields in self.access.notes:
            log.append(kind, fields, now)

    # -- events and logging ------------------------------------------------------------------

    def event(self, ev, **fields):
        self.writer.event(ev, **fields)

    def reply(self, seq, **fields):
        self.event("reply", re=seq, ok=True, **fields)

    def reply_error(self, seq, message):
        # Messages may quote the host's input: keep them well inside one frame.
        self.event("error", re=seq, error=message[:_MAX_ERROR])

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
        if self.confirmation.kind == "consent":
            # The household or a more private choice won. A host that did it freed the slot:
            # it may not ask again at once (confirm.py COOLDOWN_MS).
            self.cancel_confirmation("superseded", by_host=change.get("source") == "host")
        if self.gate.state == gate.OPEN and self.forwarder.flags & ~self.consent.flags:
            # Consent was withdrawn from under the open session: its header promised flags
            # that no longer hold, so it ends here (a new session carries the new consent).
            self.close_session("consent")

    def describe_consent(self):
        c = self.consent
        pending = self.confirmation.target if self.confirmation.kind == "consent" else None
        return {"preset": c.preset, "flags": flag_names(c.flags), "guest": c.guest,
                "pending": pending}

    def _show_status_led(self, now):
        # The legend is docs/sessions.md. Patterns, from the most urgent:
        #   request waiting          the requested preset's colour (a key replacement: white)
        #                            250 ms, dark 250 ms (the gesture confirms only what this
        #                            showed, so it outranks everything else)
        #   unlocked (maintenance)   white 500 ms, dark 500 ms
        #   log repaired, not yet    dark 100 ms of every 500 ms over the pattern below (test
        #   acknowledged             mode's alternation stays visible), until someone holds
        #                            the mute button
        #   test mode                the status colour alternating with white every 500 ms
        #   speaking                 the status colour at a quarter brightness, steady
        #   otherwise                the applied preset's colour, steady
        c = self.confirmation
        if c.state == WAITING:
            c.show(now)
            lit = not (self.hw.ticks_diff(now, c.since) // BLINK_MS) & 1
            if not lit:
                colour = _DARK
            elif c.kind == "consent":
                colour = COLOURS[preset_name(c.data[0], c.data[1])]
            else:
                colour = _WHITE
        elif self.access.mode == UNLOCKED:
            colour = _DARK if (now // _UNLOCKED_BLINK_MS) & 1 else _WHITE
        else:
            colour = self.consent.led_colour()
            if self.test_mode and (now // _TEST_MODE_BLINK_MS) & 1:
                colour = _WHITE  # test mode: the status colour alternates with white
            elif self.speaker is not None and self.speaker.playing():
                # Speaking: the status colour at a quarter brightness, steady.
                colour = (colour[0] >> 2, colour[1] >> 2, colour[2] >> 2)
            if self.log.quarantine.pending and now % _REPAIR_FLICKER_MS < _REPAIR_DARK_MS:
                colour = _DARK  # a log repair nobody acknowledged: over whatever else it shows
        if colour != self._led:
            self._led = colour
            self.hw.set_status_led(colour[0], colour[1], colour[2])

    def _save(self):
        self._saves += 1
        store.save(self._state_path,
                   {"muted": self.mute.muted, "consent": self.consent.state_dict()})

    def _load_identity(self):
        ident = store.load(self._identity_path) or {}
        signer = None
        try:
            key = binascii.unhexlify(ident["key"])
            if commands.valid_device_id(ident["device_id"]) and len(key) == 32:
                signer = SessionSigner(key, ident["device_id"])
        except (KeyError, TypeError, ValueError):
            signer = None
        # An identity that does not check out is treated as none: the board stays usable and
        # says "not provisioned" instead of failing at boot.
        self.identity = ident if signer else {}
        self.forwarder.set_signer(signer)

    # -- host requests that wait for the household ---------------------------------------------

    def ask_confirmation(self, kind, target, data, seq, now, by=None):
        """Hold a host request for the gesture; None, or why it was refused (the error)."""
        c = self.confirmation
        wait = c.cooldown_ms(now)
        if wait:
            # Logged once per withdrawal: a host retrying in a loop does not fill the log.
            if not self._cooldown_logged:
                self._cooldown_logged = True
                self._log_request("refused", kind, target, by, "cooldown")
            return ("a request was just withdrawn: the board takes a new one in %d s"
                    % ((wait + 999) // 1000))
        if c.state == WAITING:
            return "another request is waiting for the button on the board"
        if not self._log_request("asked", kind, target, by):
            # As for a session: nothing the household is asked about goes unrecorded.
            return "the transparency log is not writable"
        c.ask(kind, target, data, seq, now, by)
        self.event("confirm", what=kind, target=target, state="waiting",
                   seconds=c.seconds_left(now), by=by, re=seq)
        return None

    def cancel_confirmation(self, why, by_host=False):
        c = self.confirmation
        kind, target, by = c.kind, c.target, c.by
        done = c.cancel(why)
        if done:
            if by_host:
                c.withdrawn(self.hw.ticks_ms())
                self._cooldown_logged = False
            self._log_request("cancelled", kind, target, by, why)
            self._confirmation_outcome(done, "cancelled")
        return done

    def _log_request(self, what, kind, target, by, why=None):
        # Every request's life is in the transparency log: asked, cancelled, expired, refused,
        # and a gesture that confirmed nothing (an applied one is its consent or provision entry).
        fields = {"event": what, "what": kind, "target": target}
        if by:
            fields["by"] = by
        if why:
            fields["why"] = why
        try:
            self.log.append("request", fields, self.hw.ticks_ms())
        except OSError:  # a full or failing flash: the host still gets the event
            return False
        return True

    def _confirmation_outcome(self, done, outcome):
        kind, target, _, seq = done
        self.event("confirm", what=kind, target=target, outcome=outcome, re=seq)
        if kind == "provision" and outcome != "applied":
            self.reply_error(seq, "not confirmed on the board (%s)" % outcome)

    def _confirm(self, now):
        done = self.confirmation.accept(now)
        if done is None:
            return
        kind, target, data, seq = done
        if kind == "consent":
            self.consent.apply(data[0], data[1], "host+button", now)
        elif kind == "provision":
            self.provision(data[0], data[1], seq)
        self._confirmation_outcome(done, "applied")

    def provision(self, dev, key, seq):
        self._saves += 1
        store.save(self._identity_path,
                   {"device_id": dev, "key": binascii.hexlify(key).decode()})
        self._load_identity()
        self.log.append("provision", {"device_id": dev}, self.hw.ticks_ms())
        self.reply(seq, device_id=dev)

    # -- the loop ----------------------------------------------------------------------------

    def run(self):
        self.hw.wdt_start(_WDT_MS)
        try:
            while True:
                self.step()
        finally:
            # Ctrl-C, an unhandled exception, anything: the mic goes off, the LED on, and an
            # open session is ended and logged if the serial line and flash still work (if
            # not, the next boot logs it as interrupted).
            self.mute.fail_safe()
            try:
                self.close_session("error")
            except Exception:  # noqa: BLE001 - best effort on the way down
                pass

    def step(self):
        hw = self.hw
        frame = self.frame
        lost = hw.read_frame(frame)
        writes = self.log.writes + self._saves
        spliced = self._spliced  # this frame was read after the writes that spliced it
        if self.feed is not None:
            # Test mode: the host's audio replaces the microphone entirely (silence when none
            # is queued), so a session a host provoked never carries the room.
            self.feed.take(frame, not self.mute.muted)
        hw.wdt_feed()
        now = hw.ticks_ms()
        if lost:
            self._audio_lost(lost)
        if hw.hardware_muted() != self._switch_engaged:
            self._mute_switch(not self._switch_engaged, now)
        events = self.buttons.update(hw.buttons(), now)
        if events:
            for kind, bit in events:
                self._on_button(kind, bit, now)
        n = hw.serial_read(self._rx)
        if n:
            if self.writer.stalled:
                self._host_back(now)
            for cmd in self.reader.feed(memoryview(self._rx)[:n]):
                commands.handle(self, cmd, now)
        if self.speaker is not None:
            played = self.speaker.step(now)
            if played is not None:
                self.event("played", ms=played[0], underruns=played[1], t=now)
        if self.confirmation.state == WAITING:
            c = self.confirmation
            kind, target, by = c.kind, c.target, c.by
            lapsed = c.expired(now)
            if lapsed:
                self._log_request("expired", kind, target, by)
                self._confirmation_outcome(lapsed, "expired")
        self._show_status_led(now)
        self.mute.tick(now)
        # The serial line is free for what can wait (a log piece, a queued session chunk)
        # only while the loop is on time: less than a frame waits in the I2S DMA buffer.
        on_time = hw.backlog() < hw.FRAME_SAMPLES
        if not self.mute.muted:
            on_time = self._hear(frame, now, on_time)
        if self.log_sender.step(on_time):
            on_time = False
        # Quirk: upstream builds leave CONFIG_I2S_ISR_IRAM_SAFE off (esp-idf esp_driver_i2s/
        # Kconfig; no sdkconfig in micropython ports/esp32 sets it), so while a flash sector
        # erases (~45 ms, cache off) the I2S DMA interrupt cannot run: its end-of-buffer events
        # collapse into one (i2s_common.c i2s_dma_rx_callback queues only the last finished
        # descriptor) and the buffers before it are skipped with no overflow to see, so
        # read_frame() cannot report them. So while a session streams, the log's compaction
        # waits, and any other write (a consent confirmed mid-session, the session's own opening
        # after its pre-roll) marks a gap in the signed stream after this frame: a receiver
        # sees where audio may be missing, never a silent splice (tests/test_flash_under_audio).
        if on_time and self.log_sender.seq is None and self.gate.state != gate.OPEN:
            self.log.compact_step()  # a transfer reads a stable log
        # Several erases in one frame leave several pieces, each one DMA buffer long, queued
        # one after the other: the frames read until the DMA buffer is empty again are left
        # out of the session (_hear), inside the marked gap.
        wrote = self.log.writes + self._saves != writes
        if wrote and self.gate.state == gate.OPEN and not self._spliced:
            self.forwarder.flash_written()
            self._spliced = _SPLICE_FRAMES
        elif spliced and not wrote:
            # This read emptied the DMA buffer (or the buffer has been read through since):
            # the next frame is new audio.
            self._spliced = 0 if hw.backlog() == 0 else self._spliced - 1
        if self.writer.stalled and self.gate.state == gate.OPEN:
            self.close_session("host_slow")  # logged; the receiver sees the session cut
        self._steps = (self._steps + 1) & _MEM_EVERY  # stays a small int: no allocation
        if not self._steps:
            used = gc.mem_alloc()
            if used > self.mem_peak:
                self.mem_peak = used

    def _hear(self, frame, now, on_time):
        """The unmuted part of a frame; returns whether the line is still free."""
        speech = self.vad.is_speech(frame, self.hw.FRAME_SAMPLES)
        if self.gate.state == gate.LISTENING:
            self.ring.push(frame)
            if self._own_voice(now):
                return on_time  # the board is speaking: its own voice never wakes it
            if self.detector is not None and self.detector.feed(frame):
                word = self.detector.word
                self.event("wake", word=word, score=self.detector.last_score, t=now)
                self._open_session(word, now)
        elif self.gate.state == gate.OPEN:
            if not self._spliced and self.forwarder.add(frame):
                on_time = False  # a full FIFO already went out this frame
            if self.forwarder.pump(on_time):
                on_time = False
            reason = self.gate.should_close(now, speech)
            if reason:
                self.close_session(reason)
        return on_time

    def _host_back(self, now):
        # A host that stopped reading (proto.FrameWriter.stalled) talks again: write again,
        # and say what it missed.
        missed = self.writer.resume()
        self._note("the host stopped reading: %d frames were not sent" % missed)

    def _own_voice(self, now):
        # While the speaker plays and for its tail (earshot/speaker.py) the detector hears
        # nothing; after, it starts afresh, with no feature of the board's own voice left in it.
        if self.speaker is not None and self.speaker.busy(now):
            self._deaf = True
            return True
        if self._deaf:
            self._deaf = False
            if self.detector is not None:
                self.detector.reset()
        return False

    def _audio_lost(self, samples):
        # The loop fell further behind than the DMA buffer holds: that audio is gone. Inside a
        # session the receiver must see where (stream.Streamer.gap), never a silent splice.
        self.lost_samples += samples
        if self.gate.state == gate.OPEN:
            self.forwarder.gap(samples)

    def _mute_switch(self, engaged, now):
        # A latched mute switch (BOX-3) reports state: its position is the truth.
        self._switch_engaged = engaged
        if engaged:
            self.close_session("mute")
            self.mute.apply(True, "switch")
        elif self.mute.muted:
            # The switch cut the codec's power, so its configuration is gone: mic_start()
            # configures it from scratch.
            if not self.mute.apply(False, "switch"):
                self._unmute_refused("switch", now)

    def _unmute_refused(self, source, now):
        # Stay muted, say why (event, mute LED wink; a microphone fault also in the transparency
        # log), and keep serving the host.
        why = self.mute.fault
        if source != "restore":
            self.mute.wink(now)  # someone at the board tried: show them it was heard
        self.event("mic", ok=False, why=why or "the mute switch is at mute", source=source,
                   t=now)
        if why and why != self._fault_logged:  # once per reason per boot, however many presses
            self._fault_logged = why
            self.log.append("mic_fault", {"why": why[:200], "source": source}, now)

    # -- sessions ----------------------------------------------------------------------------

    def _open_session(self, wake, now):
        why = self.forwarder.refusal(self.consent)
        if why:
            self.event("refused", why=why, wake=wake)
            return
        try:
            self.forwarder.open(wake, now, self.consent, self.ring, self.test_mode)
        except OSError as e:
            # The log entry could not be written (flash full or failing): nothing was sent.
            self.event("refused", why="transparency log not writable (%s)" % e, wake=wake)
            return
        self.gate.open(now, wake)
        # Opening wrote the counter and the log (see step): audio queued before (a pre-roll)
        # and audio after are not contiguous.
        self.forwarder.flash_written()
        self._spliced = _SPLICE_FRAMES

    def close_session(self, reason):
        if self.gate.state != gate.OPEN:
            return
        self.gate.set_state(gate.CLOSING, reason)
        self._spliced = 0
        summary = self.forwarder.close(reason, self.hw.ticks_ms())
        self.event("session", **summary)
        if self.detector is not None:
            self.detector.reset()
        self.vad.reset()
        self.gate.set_state(gate.LISTENING, reason)
        gc.collect()

    # -- buttons -----------------------------------------------------------------------------

    def _on_button(self, kind, bit, now):
        if kind == "chord":
            # Both buttons are down: what this hold may confirm is decided now, from what the
            # LED had shown before the first of them went down (confirm.py).
            c = self.confirmation
            self._hold_gen = c.gen
            self._hold_seen = c.shown_for(self.buttons.hold_began) >= SHOWN_MS
            return
        if kind == "both":
            # The confirm gesture: both buttons together, never used for anything else, so a
            # push-to-talk press can never confirm what a host asked for.
            self._gesture(now)
            return
        if bit == BUTTON_MUTE and kind == "long":
            self._acknowledge_repair(now)  # the mute button held: nothing else uses it
            return
        if bit == BUTTON_MUTE and kind == "press":
            muted = not self.mute.muted
            if muted:
                self.close_session("mute")
            if not self.mute.apply(muted, "button"):
                self._unmute_refused("button", now)
            return
        if bit != BUTTON_ACTION:
            return
        if kind == "press":
            if self.gate.state == gate.OPEN:
                self.close_session("host_stop")
            elif self.confirmation.state == WAITING:
                # While a host request waits, the action button does not open a session: the
                # household may be reaching for the confirm gesture.
                self._note("push-to-talk ignored: a request waits (hold both buttons to allow)")
            elif not self.mute.muted:
                self._open_session("ptt", now)
        elif kind == "long":
            self.consent.cycle(now)
        elif kind == "very_long":
            self.consent.set_guest(not self.consent.guest, "button", now)

    def _acknowledge_repair(self, now):
        # A log repair set lines aside (translog.py, quarantine.py): the board warns until a
        # person at the board holds the mute button; a host cannot clear it.
        q = self.log.quarantine
        if not q.pending:
            self._note("mute held: nothing to acknowledge")
            return
        self.log.append("repair_ack", {"by": "mute button held"}, now)  # first: never silent
        q.acknowledge()
        self.event("log_repair", **q.summary())

    def _gesture(self, now):
        c = self.confirmation
        if c.gen != self._hold_gen:
            why = "the request changed while the buttons were held"
        elif c.state != WAITING:
            self._note("both buttons: nothing is waiting for confirmation")
            return
        elif not self._hold_seen:
            why = "the request was not shown for 1 s before the buttons were held"
        else:
            self._confirm(now)
            return
        # Nothing is confirmed by this hold; what waits (if anything) keeps waiting, and a
        # new hold once its light has been seen may confirm it.
        self._note("both buttons: nothing confirmed: " + why)
        self.event("confirm", what=c.kind, target=c.target, refused=why)
        self._log_request("gesture_refused", c.kind, c.target, c.by, why)

    # -- what the host sees ------------------------------------------------------------------

    def status(self):
        return {
            "version": VERSION, "protocol": proto.VERSION, "board": self.hw.board.get("id"),
            "muted": self.mute.muted, "consent": self.describe_consent(),
            "uptime_ms": self.hw.ticks_ms(), "gate": gate.NAMES[self.gate.state],
            "device_id": self.identity.get("device_id"),
            "chip_id": getattr(self.hw, "chip_id", None),
            "provisioned": self.forwarder.signer is not None,
            "log": {"entries": len(self.log), "head": self.log.head()[1],
                    "repair": self.log.quarantine.summary()},
            "wake_word": self.detector.word if self.detector else None,
            "test_mode": self.test_mode, "access": self.access.mode,
            "confirm": self._waiting(),
            "request_cooldown_s": (self.confirmation.cooldown_ms(self.hw.ticks_ms()) + 999)
            // 1000,
            "last_session": {"counter": self.log.max_counter(),
                             "tag": binascii.hexlify(self.log.last_tag() or bytes(32)).decode()},
            "mic_fault": self.mute.fault, "hardware_muted": self._switch_engaged,
            "audio_lost_ms": self.lost_samples // 16,
            "speaker": self.speaker.describe(self.hw.board["speaker"].get("rate", 16000))
            if self.speaker is not None else self.speaker_fault and {
                "ok": False, "fault": self.speaker_fault},
            "mem": _mem(self.mem_peak),
            "cpu_mhz": getattr(self.hw, "cpu_hz", 0) // 1_000_000,
        }

    def _waiting(self):
        # The host request the status LED is blinking for (a consent change or a key
        # replacement), so a host can say what the LED shows; None when nothing waits.
        c = self.confirmation
        if c.state != WAITING:
            return None
        return {"what": c.kind, "target": c.target, "by": c.by,
                "seconds": c.seconds_left(self.hw.ticks_ms())}


def _mem(peak):
    # Live heap (after a collection: what is really held) and the sampled peak before one.
    gc.collect()
    return {"live": gc.mem_alloc(), "free": gc.mem_free(), "peak": peak}


def _mkdir(path):
    import os

    try:
        os.mkdir(path)
    except OSError:
        pass
