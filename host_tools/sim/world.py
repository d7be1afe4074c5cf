"""The physical world around a virtual board: microphone, I2S DMA, buttons and mute switch,
output pins, serial line, flash and watchdog, on one board clock.

The firmware's virtual hardware layer (firmware/earshot/hw/virtual.py) talks to this over a
Unix socket. Board time is the audio clock plus what serial and flash writes cost: a frame read
waits for the frame's samples, a write blocks the firmware as long as the real driver would
(serial_line.py, flash_cost.py). Queued audio is delivered as fast as the firmware reads it
(a test need not wait for a recording to play); audio played `live` is a person speaking in the
room: frame reads wait for it at real-time pace, so what a host shows while it lasts
(a page's "streaming now") lasts as long as it would beside a real board. With nothing queued
the microphone hears silence at real-time pace, as a real one would.

The wire format (opcodes, pin ids, frame size) is host_tools/sim/wire.py, the one copy both
sides use.
"""

import io
import socket
import struct
import threading
import time
import wave
from collections import deque
from pathlib import Path

from ..errors import EarshotError
from . import wire
from .flash_cost import FlashCost
from .frame_stats import FrameStats
from .serial_line import SerialLine
from .wire import FRAME_BYTES, FRAME_SAMPLES, RATE

FRAME_S = FRAME_SAMPLES / RATE
# The esp32 port's machine.I2S DMA buffers hold DMA_BUF_LEN_IN_I2S_FRAMES (256) frames each, and
# it allocates ibuf // (256 * 8) of them for 32-bit stereo RX (ports/esp32/machine_i2s.c,
# get_dma_buf_count): ibuf 10240 is 5 buffers, 1280 samples, 80 ms.
DMA_BUFFER_SAMPLES = 256

BUTTON_BITS = {"mute": wire.BUTTON_MUTE, "action": wire.BUTTON_ACTION}
PIN_IDS = {wire.PIN_MUTE_LED: "mute_led", wire.PIN_MIC_POWER: "mic_power",
           wire.PIN_STATUS_LED: "status_led", wire.PIN_SPEAKER_AMP: "speaker_amp"}
# How loud the board's own speaker is in its microphone: the speaker sits a few centimetres
# from the mics in every enclosure, so the room hears it about as loud as it was played.
ECHO_GAIN = 1.0
_SILENCE = bytes(FRAME_BYTES)
_HISTORY = 20000  # edges kept per kind: hours of a blinking LED


def read_pcm(source):
    """16 kHz mono int16 PCM bytes from a WAV path, WAV bytes or raw PCM bytes.

    A file must hold some audio, and a file named .wav must be a WAV (a text file renamed .wav
    is not quietly played as noise)."""
    if isinstance(source, (str, Path)):
        try:
            data = Path(source).read_bytes()
        except OSError as e:
            raise EarshotError("cannot read audio %s: %s" % (source, e.strerror)) from None
        pcm = _decode(data, str(source), str(source).lower().endswith(".wav"))
        if not pcm:
            raise EarshotError("%s holds no audio (0 samples): give a 16 kHz mono 16-bit WAV "
                               "with some sound in it" % source)
        return pcm
    return _decode(bytes(source), "audio", False)


def _decode(data, name, must_be_wav):
    if data[:4] != b"RIFF" and must_be_wav:
        raise EarshotError("%s is not a WAV file (it does not start with RIFF): give a 16 kHz "
                           "mono 16-bit WAV" % name)
    if data[:4] != b"RIFF":
        if len(data) % 2:
            raise EarshotError("%s: raw PCM must be 16-bit samples (odd byte count)" % name)
        return data
    try:
        with wave.open(io.BytesIO(data)) as w:
            fmt = (w.getframerate(), w.getnchannels(), w.getsampwidth())
            pcm = w.readframes(w.getnframes())
    except (wave.Error, EOFError) as e:
        raise EarshotError("%s: not a readable WAV file (%s)" % (name, e)) from None
    if fmt != (RATE, 1, 2):
        raise EarshotError(
            "%s: need 16 kHz mono 16-bit WAV, got %d Hz, %d channel(s), %d-bit"
            " (convert with: sox IN -r 16000 -c 1 -b 16 OUT.wav)" % (name, fmt[0], fmt[1], 8 * fmt[2])
        )
    return pcm


class World:
    """Microphone, I2S DMA buffer, buttons and switch, pins, serial line, flash and watchdog of
    one board, all on one board clock.

    Board time (`clock_us`) is what the firmware lives in: it advances when the firmware waits
    for audio (a frame read with nothing buffered), and by what its serial writes and flash
    writes cost (SerialLine, FlashCost). The microphone produces samples as board time passes,
    into a DMA buffer of `dma_samples` (machine.I2S's ibuf); a firmware that falls further
    behind than that loses the oldest audio, as the esp32 I2S driver drops its oldest DMA
    buffer. Queued audio is the room's sound from the moment it is played; with nothing queued
    the room is silent and time passes at real-time pace, as it would for a real board.
    """

    def __init__(self, reset_state, dma_samples=1280, serial=None, flash=None,
                 clock_start_ms=0, mute_switch=False):
        self._cond = threading.Condition()
        self._paused = False  # the firmware stopped on purpose (set_paused)
        self._audio = deque()  # [bytes, live] chunks, consumed front first
        self._queued = 0  # bytes queued
        self._queued_total = 0  # bytes ever queued (unplay finds a span by it)
        # Live audio (play(live=True)): the wall time its first sample reached the microphone,
        # and how many of its samples the microphone has taken since.
        self._live_t0 = None
        self._live_taken = 0
        self._power_cuts = 0  # a frame read waiting for live audio gives up at a power cut
        self.clock_us = int(clock_start_ms) * 1000  # board time
        self._clock_start_ms = int(clock_start_ms)
        self._chip_start_us = self.clock_us  # board time when the chip last started
        self._dma = bytearray()  # samples produced, not yet read (int16 LE)
        self._dma_bytes = max(2 * DMA_BUFFER_SAMPLES, 2 * dma_samples)
        self._silence_due = 0.0
        self._presses = []  # (mask, start_sample, end_sample or None)
        self._reset_state = dict(reset_state)
        self.pin_state = {}
        # What a logic analyser on the board would record, in board seconds: every output pin
        # change, and every button edge (pressed 1, released 0) as the tester made it.
        self.pin_history = deque(maxlen=_HISTORY)  # (board seconds, pin, value)
        self.button_history = deque(maxlen=_HISTORY)  # (board seconds, button, 1 | 0)
        self.serial = serial or SerialLine(cost_free=True)
        self.flash = flash or FlashCost(cost_free=True)
        self.has_mute_switch = mute_switch
        self.switch_engaged = False  # the latched mute switch is at "mute"
        self._codec_ready = True  # a switch that cut the codec's power left it unconfigured
        self.lost_samples = 0  # audio the DMA dropped while the microphone was powered
        # audio skipped while a flash erase masked the I2S interrupt: the firmware is never
        # told (a test's hidden truth, _produce)
        self.spliced_samples = 0
        self._lost_pending = 0
        self.max_backlog = 0  # most samples ever waiting in the DMA buffer at a read
        self._stall_us = 0
        self._stall_at = 0
        self.frame_stats = FrameStats()  # per-frame processing time (frame_stats.py)
        self._frame_out = None  # (board us, wall s) when the last frame was handed over
        self.power_off()
        self.booted = threading.Event()
        self.cpu_hz = wire.BOOT_CPU_HZ  # what machine.freq() reports (wire.OP_CLOCK)
        self._wdt_timeout_us = None
        self._wdt_fed_us = 0
        self._wdt_bitten = False
        self._last_op = time.monotonic()
        self.on_boot = None  # set by the supervisor: the runtime announced itself
        self.on_kbd_intr = None  # set by the supervisor: the interrupt character changed
        # The speaker: every frame the firmware played, with the board time it was written,
        # and what of it the microphone has still to hear (the acoustic path back).
        self.speaker_log = deque(maxlen=_HISTORY)  # (board seconds, PCM bytes)
        self._echo = bytearray()

    # -- board time -------------------------------------------------------------------------

    @property
    def samples(self):
        """Board time in samples (16 per ms)."""
        return self.clock_us * RATE // 1_000_000

    @property
    def ticks_ms(self):
        """What ticks_ms() returns on the board now, wrapped like the ESP32-S3's. Upstream it is
        esp_timer_get_time() / 1000 (ports/esp32/mphalport.c, mp_hal_ticks_ms): time since the
        chip started, so it starts again (at `clock_start_ms`) at every power-on, hard reset,
        watchdog reset or machine.reset(), and runs on through a soft reset."""
        ms = (self.clock_us - self._chip_start_us) // 1000 + self._clock_start_ms
        return ms % wire.TICKS_PERIOD

    def chip_started(self):
        """The chip (not only MicroPython) starts: ticks_ms() starts again."""
        with self._cond:
            self._chip_start_us = self.clock_us
            self.cpu_hz = wire.BOOT_CPU_HZ

    def _advance(self, us, masked=False):
        """Let `us` of board time pass (lock held): the microphone fills the DMA buffer.
        `masked`: the I2S DMA interrupt cannot run meanwhile (a flash erase, _produce)."""
        if us <= 0:
            return
        before = self.samples
        self.clock_us += int(us)
        self._produce(self.samples - before, masked)
        if self._wdt_timeout_us is not None and \
                self.clock_us - self._wdt_fed_us > self._wdt_timeout_us:
            self._wdt_bitten = True  # latched: a late feed does not undo a bite

    def _produce(self, n, masked=False):
        hearing = self.pin_state.get("mic_power") and self._codec_ready and \
            not self.switch_engaged
        pcm = self._take(2 * n)
        if self._echo:
            pcm = self._mix_echo(pcm)
        if not hearing:
            # A powered-down microphone (or one the mute switch cut off) hears nothing,
            # whatever the firmware believes.
            pcm = bytes(2 * n)
        unit = 2 * DMA_BUFFER_SAMPLES
        if masked and len(pcm) > unit:
            # The I2S DMA interrupt was masked (a flash erase: flash_cost.py). The DMA went on
            # round its descriptor ring, but no end-of-buffer event ran; when the interrupt
            # comes back it runs once, for the last finished buffer only (esp-idf
            # esp_driver_i2s/i2s_common.c i2s_dma_rx_callback queues event_data->rx_eof_desc_addr,
            # one descriptor per interrupt). The buffers before it are skipped: no overflow,
            # no count the driver could report, a silent splice.
            skipped = len(pcm) - unit
            pcm = pcm[skipped:]
            if hearing:
                self.spliced_samples += skipped // 2
        self._dma += pcm
        over = len(self._dma) - self._dma_bytes
        if over > 0:
            # The I2S driver drops whole DMA buffers, oldest first.
            unit = 2 * DMA_BUFFER_SAMPLES
            drop = -(-over // unit) * unit
            del self._dma[:drop]
            if hearing:
                self.lost_samples += drop // 2
                self._lost_pending += drop // 2

    def _mix_echo(self, pcm):
        import numpy as np

        n = min(len(pcm), len(self._echo))
        room = np.frombuffer(pcm, dtype="<i2").astype(np.int32)
        echo = np.frombuffer(bytes(self._echo[:n]), dtype="<i2").astype(np.int32)
        del self._echo[:n]
        room[:n // 2] += (echo * ECHO_GAIN).astype(np.int32)
        return np.clip(room, -32768, 32767).astype("<i2").tobytes()

    def speaker_write(self, pcm):
        """The firmware played one frame on its speaker: recorded, and heard by the mic."""
        with self._cond:
            self._last_op = time.monotonic()
            self.speaker_log.append((self.samples / RATE, bytes(pcm)))
            self._echo += pcm
            del self._echo[:-4 * RATE]  # a speaker nobody listens to holds no more than 2 s

    def speaker_played(self, since=0.0):
        """[(board seconds, PCM)] the speaker played from `since` on."""
        with self._cond:
            return [(t, pcm) for t, pcm in self.speaker_log if t >= since]

    def _take(self, n):
        out = bytearray()
        while len(out) < n and self._audio:
            chunk, live = self._audio.popleft()
            need = n - len(out)
            out += chunk[:need]
            if live:
                if self._live_t0 is None:
                    # Live audio first heard outside a paced read (board time a write cost
                    # passed): its speaker started now.
                    self._live_t0, self._live_taken = time.monotonic(), 0
                self._live_taken += min(need, len(chunk)) // 2
            if len(chunk) > need:
                self._audio.appendleft((chunk[need:], live))
        self._queued -= len(out)
        if not self._audio:
            self._live_t0 = None  # the next live play starts its own clock
        if len(out) < n:
            out += bytes(n - len(out))
        return bytes(out)

    # -- the board's side -------------------------------------------------------------------

    def next_frame(self):
        """Block until a frame is buffered; return (buttons mask, lost samples, backlog
        samples, ticks_ms, PCM bytes)."""
        with self._cond:
            self._last_op = time.monotonic()
            if self._frame_out is not None:
                self.frame_stats.busy.add(self.clock_us - self._frame_out[0])
                self.frame_stats.wall.add((self._last_op - self._frame_out[1]) * 1e6)
            if self._stall_us and self.samples >= self._stall_at:
                self._advance(self._stall_us)  # the CPU was busy elsewhere: audio piled up
                self._stall_us = 0
            need = FRAME_SAMPLES - len(self._dma) // 2
            if need > 0:
                if self._queued:
                    self._pace_live(need)
                    self._silence_due = time.monotonic() + FRAME_S
                else:
                    while not self._queued:
                        now = time.monotonic()
                        if now >= self._silence_due:
                            self._silence_due = max(now, self._silence_due) + FRAME_S
                            break
                        self._cond.wait(self._silence_due - now)
                # The read returns when the frame's last sample arrives.
                target = self.samples + need
                self._advance(-(-target * 1_000_000 // RATE) - self.clock_us)
            pcm = bytes(self._dma[:FRAME_BYTES])
            del self._dma[:FRAME_BYTES]
            backlog = len(self._dma) // 2
            self.max_backlog = max(self.max_backlog, backlog)
            lost, self._lost_pending = self._lost_pending, 0
            mask = self._buttons_at(self.samples)
            if self.has_mute_switch:
                mask = (mask & ~wire.BUTTON_MUTE) | (wire.BUTTON_MUTE if self.switch_engaged else 0)
            self._frame_out = (self.clock_us, time.monotonic())
            self._cond.notify_all()
            return mask, min(lost, 0xFFFF), min(backlog, 0xFFFF), self.ticks_ms, pcm

    def _pace_live(self, need):
        """Live audio at the front of the queue: wait (lock released) until a person speaking
        since `_live_t0` has said the next `need` samples. Nothing is timed by it: the firmware
        still reads at board time, and one that falls behind real time is never held back."""
        if not (self._audio and self._audio[0][1]):
            return  # a recording, or silence, comes first
        now = time.monotonic()
        if self._live_t0 is None:
            self._live_t0, self._live_taken = now, 0  # the person starts speaking now
        due = self._live_t0 + (self._live_taken + need) / RATE
        power = self._power_cuts
        while now < due and self._audio and self._audio[0][1] and power == self._power_cuts:
            self._cond.wait(due - now)
            now = time.monotonic()
            # Waiting for the microphone is not a firmware stuck in a loop (check_watchdog).
            self._last_op = now

    def serial_write(self, nbytes):
        """The firmware writes nbytes to its serial port: it is blocked that long. Returns
        (bytes the host gets, board us it blocked)."""
        with self._cond:
            self._last_op = time.monotonic()
            cost = self.serial.write(nbytes, self.clock_us)
            self._advance(cost)
            self._cond.notify_all()
            return self.serial.delivered, cost

    def host_stops_reading(self, ms, at=None):
        """The host keeps the port open but reads nothing for `ms` of board time from now (or
        from board time `at`, seconds): serial_line.py, every write blocks 0.5-1 s and the host
        gets what fits in the USB FIFO."""
        with self._cond:
            start = self.clock_us if at is None else int(at * 1_000_000)
            self.serial.host_stops_reading(start, ms)

    def configure_console(self, baud, wake_ms):
        """UART0's rate and the wake timer; returns what machine.UART raises (serial_line)."""
        with self._cond:
            return self.serial.configure(baud=baud, wake_ms=wake_ms)

    def flash_write(self, kind, erases, nbytes):
        with self._cond:
            self._last_op = time.monotonic()
            if kind == wire.FLASH_META:
                us = self.flash.metadata()
            else:
                us = self.flash.program(nbytes, erases)
            erase = self.flash.last_erase_us
            self._advance(erase, masked=True)  # the erase first: the I2S interrupt masked
            self._advance(us - erase)
            self._cond.notify_all()

    def set_pin(self, name, value):
        with self._cond:
            if self.pin_state.get(name) != value:
                if name == "mic_power" and value and not self.switch_engaged:
                    # Starting I2S after a mute-switch cycle is the codec's re-initialisation.
                    self._codec_ready = True
                self.pin_state[name] = value
                self.pin_history.append((self.samples / RATE, name, value))
            self._cond.notify_all()

    def watchdog(self, timeout_ms=None, feed=False):
        with self._cond:
            self._last_op = time.monotonic()
            if timeout_ms is not None:
                self._wdt_timeout_us = timeout_ms * 1000 if timeout_ms else None
                self._wdt_bitten = False
            self._wdt_fed_us = self.clock_us

    def check_watchdog(self):
        """Called periodically by the supervisor; True when the watchdog bites.

        It bites at its timeout in board time (a firmware that spends 5 s of board time
        writing without feeding it is reset, however fast the PC ran that), and, for a firmware
        stuck where board time cannot pass (a loop that never reads or writes), after twice
        the timeout of wall time without any call from it.
        """
        with self._cond:
            if self._wdt_timeout_us is None:
                return False
            stuck = not self._paused and \
                time.monotonic() - self._last_op > max(2.0, 2 * self._wdt_timeout_us / 1e6)
            return self._wdt_bitten or stuck

    def set_paused(self, paused):
        """The firmware is stopped on purpose (VirtualBoard.freeze_until_host_writes): its
        silence is no stuck loop. Going on, it starts a fresh stuck-check period."""
        with self._cond:
            self._paused = paused
            self._last_op = time.monotonic()

    def power_off(self):
        # No power: every output is dark and the microphone is dead.
        with self._cond:
            self._power_cuts += 1
            self._cond.notify_all()
            self._frame_out = None
            self._wdt_timeout_us = None
            self._wdt_bitten = False
            self._dma = bytearray()
            self._echo = bytearray()
            for name in ("mute_led", "mic_power", "status_led"):
                self.set_pin(name, (0, 0, 0) if name == "status_led" else 0)
            if "speaker_amp" in self.pin_state:  # a board with a speaker: its amp goes off
                self.set_pin("speaker_amp", 0)

    def power_on(self):
        # What the hardware shows before firmware drives anything (board file: reset_state).
        with self._cond:
            self._wdt_timeout_us = None
            self._wdt_bitten = False
            self._last_op = time.monotonic()
            self.booted.clear()
            for name, value in self._reset_state.items():
                if name not in ("mute_led", "mic_power", "status_led"):
                    continue
                self.set_pin(name, tuple(value) if isinstance(value, list) else value)

    # -- the tester's side ---------------------------------------------------------------------

    def play(self, pcm, live=False):
        """Queue PCM for the microphone; `live`: spoken in the room now, heard no faster than
        real time (_pace_live). Returns the board time it ends."""
        with self._cond:
            self._audio.append((pcm, bool(live)))
            self._queued += len(pcm)
            self._queued_total += len(pcm)
            self._cond.notify_all()
            return (self.samples + self._queued // 2) / RATE

    def queue(self, pcm):
        """Queue PCM as a recording; returns where it lies in everything ever queued, (start,
        end) in bytes, for unplay()."""
        with self._cond:
            start = self._queued_total
            self.play(pcm)
            return start, start + len(pcm)

    def unplay(self, span):
        """Take back what is still unheard of the audio queue() put at `span` (a silence that
        advance() queued for a firmware that stopped reading); audio queued before or after it
        stays where it was."""
        start, end = span
        with self._cond:
            pos = self._queued_total - self._queued  # where the front of the queue lies
            kept = deque()
            for chunk, live in self._audio:
                a, b = max(start - pos, 0), min(end - pos, len(chunk))
                if a < b:
                    for part in (chunk[:a], chunk[b:]):
                        if part:
                            kept.append((part, live))
                else:
                    kept.append((chunk, live))
                pos += len(chunk)
            self._audio = kept
            self._queued = sum(len(c) for c, _ in kept)
            if not self._audio:
                self._live_t0 = None

    def audio_read(self):
        """True once queued audio has all been heard and read by the firmware (lock held)."""
        return self._queued == 0 and len(self._dma) < FRAME_BYTES

    def queued_seconds(self):
        with self._cond:
            return self._queued / 2 / RATE

    def wait(self, predicate, timeout):
        """Wait until predicate() (called under the lock) is true; False on timeout."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while not predicate():
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(min(left, 0.05))
            return True

    def wait_board_time(self, until_s, wall_timeout):
        return self.wait(lambda: self.samples >= until_s * RATE, wall_timeout)

    def hold(self, button, seconds=None, at=None):
        mask = self._mask(button)
        with self._cond:
            start = self.samples if at is None else int(at * RATE)
            end = None if seconds is None else start + int(seconds * RATE)
            self._presses.append((mask, start, end))
            self._record_buttons(mask, start, 1)
            if end is not None:
                self._record_buttons(mask, end, 0)
            self._cond.notify_all()
            return end / RATE if end is not None else None

    def release(self, button):
        mask = self._mask(button)
        with self._cond:
            if any(m == mask and e is None for m, _, e in self._presses):
                self._record_buttons(mask, self.samples, 0)
            self._presses = [
                (m, s, self.samples if (m == mask and e is None) else e) for m, s, e in self._presses
            ]

    def _record_buttons(self, mask, sample, value):
        for name, bit in BUTTON_BITS.items():
            if mask & bit:
                self.button_history.append((sample / RATE, name, value))

    def edges(self, since=0.0):
        """Pin and button changes at or after board time `since`, oldest first:
        [(board seconds, name, value)] (a release scheduled for later is included)."""
        with self._cond:
            out = [e for e in self.pin_history if e[0] >= since]
            out += [e for e in self.button_history if e[0] >= since]
        return sorted(out, key=lambda e: e[0])

    def stall(self, seconds, at=None):
        """Fault injection: the firmware's next frame read (the first at or after board time
        `at`, in seconds) comes `seconds` of board time late, as if the CPU had been busy
        elsewhere (an interrupt storm, a flash erase)."""
        with self._cond:
            self._stall_us += int(seconds * 1_000_000)
            self._stall_at = int((at or 0) * RATE)

    def set_switch(self, engaged):
        """Slide the latched mute switch: True is "mute". It cuts the codec's power and its I2S
        data at once, whatever the firmware does; the codec forgets its configuration."""
        if not self.has_mute_switch:
            raise EarshotError("this board has no mute switch (its mute is a button): use press")
        with self._cond:
            self.switch_engaged = bool(engaged)
            if engaged:
                self._codec_ready = False
            self._cond.notify_all()

    def buttons(self):
        with self._cond:
            mask = self._buttons_at(self.samples)
        return {name: bool(mask & bit) for name, bit in BUTTON_BITS.items()}

    def pins(self):
        with self._cond:
            return dict(self.pin_state)

    def _buttons_at(self, sample):
        mask = 0
        for m, start, end in self._presses:
            if start <= sample and (end is None or sample < end):
                mask |= m
        self._presses = [p for p in self._presses if p[2] is None or p[2] > sample - RATE]
        return mask

    @staticmethod
    def _mask(button):
        # "mute+action": both held together (the confirm gesture, or the unlock at boot).
        mask = 0
        for name in button.split("+"):
            try:
                mask |= BUTTON_BITS[name]
            except KeyError:
                raise EarshotError(
                    "unknown button %r; the board has: %s (join with + to hold several)"
                    % (name, ", ".join(BUTTON_BITS))
                ) from None
        return mask


class WorldServer:
    """Serves a World to the firmware's virtual hardware layer over a Unix socket."""

    def __init__(self, world, path):
        self.world = world
        self.path = str(path)
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._sock.bind(self.path)
        self._sock.listen(8)
        self._closed = False
        self._conns = []
        threading.Thread(target=self._accept, daemon=True, name="world-accept").start()

    def close(self):
        self._closed = True
        self.drop_connections()
        self._sock.close()

    def drop_connections(self):
        for c in list(self._conns):
            try:
                c.shutdown(socket.SHUT_RDWR)
                c.close()
            except OSError:
                pass
        self._conns.clear()

    def _accept(self):
        while not self._closed:
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            self._conns.append(conn)
            threading.Thread(target=self._serve, args=(conn,), daemon=True, name="world").start()

    def _serve(self, conn):
        f = conn.makefile("rb", buffering=0)
        w = self.world
        try:
            while True:
                op = f.read(1)
                if not op:
                    return
                if op == wire.OP_FRAME:
                    mask, lost, backlog, ticks, pcm = w.next_frame()
                    conn.sendall(struct.pack("<BHHI", mask, lost, backlog, ticks) + pcm)
                elif op == wire.OP_SPEAKER:
                    w.speaker_write(_read_exact(f, FRAME_BYTES))
                elif op == wire.OP_SERIAL:
                    (n,) = struct.unpack("<I", _read_exact(f, 4))
                    conn.sendall(struct.pack("<II", *w.serial_write(n)))
                elif op == wire.OP_CONSOLE:
                    baud, wake = struct.unpack("<IB", _read_exact(f, 5))
                    conn.sendall(struct.pack("<i", w.configure_console(baud, wake)))
                elif op == wire.OP_FLASH:
                    kind, erases, n = struct.unpack("<cII", _read_exact(f, 9))
                    w.flash_write(kind, erases, n)
                    conn.sendall(wire.ACK)  # the write is done: the firmware waits for this
                elif op == wire.OP_PIN:
                    pid, r, g, b = _read_exact(f, 4)
                    name = PIN_IDS.get(pid)
                    if name == "status_led":
                        w.set_pin(name, (r, g, b))
                    elif name:
                        w.set_pin(name, 1 if r else 0)
                    conn.sendall(wire.ACK)  # applied: the firmware waits for this
                elif op == wire.OP_WDT_START:
                    (ms,) = struct.unpack("<I", _read_exact(f, 4))
                    w.watchdog(timeout_ms=ms)
                elif op == wire.OP_WDT_FEED:
                    w.watchdog(feed=True)
                elif op == wire.OP_WDT_STOP:
                    w.watchdog(timeout_ms=0)
                elif op == wire.OP_CLOCK:
                    (w.cpu_hz,) = struct.unpack("<I", _read_exact(f, 4))
                    conn.sendall(wire.ACK)
                elif op == wire.OP_BOOTED:
                    _read_exact(f, 1)
                    if w.on_boot:
                        w.on_boot()
                    w.booted.set()
                    conn.sendall(wire.BOOT_OK)
                elif op == wire.OP_KBD_INTR:
                    (char,) = _read_exact(f, 1)
                    if w.on_kbd_intr:
                        w.on_kbd_intr(-1 if char == wire.KBD_INTR_OFF else char)
                    if char == wire.KBD_INTR_OFF:
                        conn.sendall(wire.ACK)  # applied: no later byte interrupts
                else:
                    return  # not our protocol: drop the connection
        except (OSError, EOFError):
            return
        finally:
            try:
                conn.close()
            except OSError:
                pass


def _read_exact(f, n):
    data = b""
    while len(data) < n:
        more = f.read(n - len(data))
        if not more:
            raise EOFError
        data += more
    return data
