"""The physical world around a virtual board: microphone, buttons, output pins, watchdog.

The firmware's virtual hardware layer (firmware/earshot/hw/virtual.py) talks to this over a
Unix socket. Time on the board is the audio clock: every frame the firmware reads is 20 ms of
board time. Queued audio is delivered as fast as the firmware reads it; with nothing queued the
microphone hears silence at real-time pace, as a real one would.

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
from .wire import FRAME_BYTES, FRAME_SAMPLES, RATE

FRAME_S = FRAME_SAMPLES / RATE

BUTTON_BITS = {"mute": wire.BUTTON_MUTE, "action": wire.BUTTON_ACTION}
PIN_IDS = {wire.PIN_MUTE_LED: "mute_led", wire.PIN_MIC_POWER: "mic_power",
           wire.PIN_STATUS_LED: "status_led"}
_SILENCE = bytes(FRAME_BYTES)
_HISTORY = 20000  # edges kept per kind: hours of a blinking LED


def read_pcm(source):
    """16 kHz mono int16 PCM bytes from a WAV path, WAV bytes or raw PCM bytes."""
    if isinstance(source, (str, Path)):
        try:
            data = Path(source).read_bytes()
        except OSError as e:
            raise EarshotError("cannot read audio %s: %s" % (source, e.strerror)) from None
        name = str(source)
    else:
        data = bytes(source)
        name = "audio"
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
    """Microphone queue, button timeline, pin states and the watchdog of one board."""

    def __init__(self, reset_state):
        self._cond = threading.Condition()
        self._audio = deque()  # bytes chunks, consumed front first
        self._queued = 0  # bytes queued
        self.samples = 0  # board time: samples the firmware has read since power-on of the sim
        self._silence_due = 0.0
        self._presses = []  # (mask, start_sample, end_sample or None)
        self._reset_state = dict(reset_state)
        self.pin_state = {}
        # What a logic analyser on the board would record, in board seconds: every output pin
        # change, and every button edge (pressed 1, released 0) as the tester made it.
        self.pin_history = deque(maxlen=_HISTORY)  # (board seconds, pin, value)
        self.button_history = deque(maxlen=_HISTORY)  # (board seconds, button, 1 | 0)
        self.power_off()
        self.booted = threading.Event()
        self._wdt_timeout = None
        self._wdt_fed = 0.0
        self.on_boot = None  # set by the supervisor: the runtime announced itself
        self.on_kbd_intr = None  # set by the supervisor: the interrupt character changed

    # -- the board's side -------------------------------------------------------------------

    def next_frame(self):
        """Block until the next frame is due; return (buttons mask, PCM bytes the mic hears)."""
        with self._cond:
            while True:
                if self._queued:
                    pcm = self._take(FRAME_BYTES)
                    self._silence_due = time.monotonic() + FRAME_S
                    break
                now = time.monotonic()
                if now >= self._silence_due:
                    self._silence_due = max(now, self._silence_due) + FRAME_S
                    pcm = _SILENCE
                    break
                self._cond.wait(self._silence_due - now)
            self.samples += FRAME_SAMPLES
            # A powered-down microphone hears nothing, whatever the firmware believes.
            if not self.pin_state.get("mic_power"):
                pcm = _SILENCE
            mask = self._buttons_at(self.samples)
            self._cond.notify_all()
            return mask, pcm

    def _take(self, n):
        out = bytearray()
        while len(out) < n and self._audio:
            chunk = self._audio.popleft()
            need = n - len(out)
            out += chunk[:need]
            if len(chunk) > need:
                self._audio.appendleft(chunk[need:])
        self._queued -= len(out)
        if len(out) < n:
            out += bytes(n - len(out))
        return bytes(out)

    def set_pin(self, name, value):
        with self._cond:
            if self.pin_state.get(name) != value:
                self.pin_state[name] = value
                self.pin_history.append((self.samples / RATE, name, value))
            self._cond.notify_all()

    def watchdog(self, timeout_ms=None, feed=False):
        with self._cond:
            if timeout_ms is not None:
                self._wdt_timeout = timeout_ms / 1000.0 if timeout_ms else None
            self._wdt_fed = time.monotonic()

    def check_watchdog(self):
        """Called periodically by the supervisor; True when the watchdog bites."""
        with self._cond:
            if self._wdt_timeout is None:
                return False
            return time.monotonic() - self._wdt_fed > self._wdt_timeout

    def power_off(self):
        # No power: every output is dark and the microphone is dead.
        with self._cond:
            self._wdt_timeout = None
            for name in ("mute_led", "mic_power", "status_led"):
                self.set_pin(name, (0, 0, 0) if name == "status_led" else 0)

    def power_on(self):
        # What the hardware shows before firmware drives anything (board file: reset_state).
        with self._cond:
            self._wdt_timeout = None
            self.booted.clear()
            for name, value in self._reset_state.items():
                if name not in ("mute_led", "mic_power", "status_led"):
                    continue
                self.set_pin(name, tuple(value) if isinstance(value, list) else value)

    # -- the tester's side ---------------------------------------------------------------------

    def play(self, pcm):
        with self._cond:
            self._audio.append(pcm)
            self._queued += len(pcm)
            self._cond.notify_all()
            return (self.samples + self._queued // 2) / RATE

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
                    mask, pcm = w.next_frame()
                    conn.sendall(bytes((mask,)) + pcm)
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
