# The ESP32-S3 hardware layer: the interface documented in earshot/hw/__init__.py, driven only by the
# board file (boards/<id>.json). Board differences are data; the few kinds of part (I2S mic,
# PDM mic, codec mic; GPIO or NeoPixel LED) are small classes picked from tables.
# The hw package (this module and esp32_es7210.py) is the only firmware code that imports `machine`.

import os
import select
import sys
import time

import machine
import micropython
from machine import I2S, WDT, Pin
from micropython import const

from earshot.hw import BUTTON_ACTION, BUTTON_MUTE

FRAME_SAMPLES = 320  # 20 ms at 16 kHz
_FRAME_MS = const(20)
_WDT_LONGEST_MS = const(86_400_000)  # what wdt_stop() settles for: 24 h
# machine.reset_cause() constants -> the hw package numbering (1 power-on .. 5 soft reset)
_RESET_CAUSES = {getattr(machine, name, -1): n + 1 for n, name in enumerate(
    ("PWRON_RESET", "HARD_RESET", "WDT_RESET", "DEEPSLEEP_RESET", "SOFT_RESET"))}
_PULLS = {"up": Pin.PULL_UP, "down": Pin.PULL_DOWN, None: None, "none": None}


class NotSupportedError(OSError):  # the board needs what this MicroPython build lacks
    pass


@micropython.viper
def _slots_to_pcm16(src: ptr16, dst: ptr16, n: int, shift: int):
    # dst[i] = clamp(slot_i >> shift), shift 8..24. The 32-bit LE slots are read as unsigned
    # halves so every intermediate fits int32: same bits on the S3 (32-bit words) and a PC.
    i = 0
    while i < n:
        lo = int(src[2 * i])
        hi = int(src[2 * i + 1])
        hi = hi - ((hi & 0x8000) << 1)  # sign-extend the high half
        if shift >= 16:
            v = hi >> (shift - 16)
        else:
            v = (hi << (16 - shift)) + (lo >> shift)
        if v > 32767:
            v = 32767
        elif v < -32768:
            v = -32768
        dst[i] = v
        i += 1


@micropython.viper
def _zero(buf: ptr8, n: int):
    i = 0
    while i < n:
        buf[i] = 0
        i += 1


class _Out:
    # An output with a polarity (board "active": the level that means on).
    def __init__(self, spec, on=False):
        self.active = spec.get("active", 1)
        # Quirk: passing value= sets the level before the driver is enabled, so a pin that
        # must stay off (mic power, amplifier) never glitches on while being configured.
        self.pin = Pin(spec["pin"], Pin.OUT, value=self.active if on else 1 - self.active)

    def set(self, on):
        self.pin.value(self.active if on else 1 - self.active)

    def set_rgb(self, r, g, b):  # as a single-colour status LED: lit for any non-black colour
        self.set(r or g or b)


class _NeoPixel:
    def __init__(self, spec):
        import neopixel

        self._np = neopixel.NeoPixel(Pin(spec["pin"], Pin.OUT), 1)
        self._max = spec.get("max", 255)  # these LEDs are blinding at full drive
        self.set_rgb(0, 0, 0)

    def set_rgb(self, r, g, b):
        m = self._max
        self._np[0] = (r * m // 255, g * m // 255, b * m // 255)
        self._np.write()


_STATUS_LEDS = {"none": lambda spec: None, "gpio": _Out, "neopixel": _NeoPixel}


class I2SMic:
    # A microphone read through machine.I2S as 32-bit mono slots.
    def __init__(self, spec):
        self.spec = spec
        self.i2s = None

    def open(self, **extra):
        s = self.spec
        self.i2s = I2S(s.get("i2s_id", 0), sck=Pin(s["sck"]), ws=Pin(s["ws"]), sd=Pin(s["sd"]),
                       mode=I2S.RX, bits=32, format=I2S.MONO, rate=s.get("rate", 16000),
                       ibuf=s.get("ibuf", 10240), **extra)
        # machine.I2S MONO RX keeps the left slot only; mics must be strapped to the left
        # (INMP441: L/R to GND), which the board file records as "slot": "left".

    def start(self):
        self.open()

    def readinto(self, raw):
        return self.i2s.readinto(raw)

    def stop(self):
        i2s, self.i2s = self.i2s, None
        if i2s is not None:
            i2s.deinit()


class _PdmMic(I2SMic):
    def start(self):
        # Quirk: upstream machine.I2S has no PDM RX mode (micropython PR #14176 adds one,
        # unmerged), and an I2S-mode read of a PDM bitstream is noise, so refuse.
        raise NotSupportedError("this MicroPython build's machine.I2S has no PDM RX mode; "
                                "the PDM microphone stays off, see docs/boards.md")


# Mic kinds by board "mic.kind"; only codec boards pay for loading the codec driver.
_MICS = {"i2s": I2SMic, "pdm": _PdmMic,
         "es7210": lambda spec: __import__("earshot.hw.esp32_es7210", None, None, ["Mic"]).Mic(spec)}


class Hardware:
    FRAME_SAMPLES = FRAME_SAMPLES

    def __init__(self, board):
        self.board = board
        # Fail closed first: mic unpowered, mute LED on, amplifiers off, before anything else.
        mp = board.get("mic_power")
        self._mic_power = _Out(mp, False) if mp else None
        self._mute_led = _Out(board["mute_led"], True)
        for spec in board.get("held_off", ()):
            _Out(spec, False)
        mic = board["mic"]
        kind = _MICS.get(mic["kind"])
        if kind is None:
            raise ValueError("board mic kind %r is not one of %s" % (mic["kind"], sorted(_MICS)))
        self._shift = mic.get("shift", 16)
        if not 8 <= self._shift <= 24:
            raise ValueError("board mic shift must be 8..24, not %r" % self._shift)
        self._mic = kind(mic)
        self._running = False
        self._raw = bytearray(FRAME_SAMPLES * 4)  # one frame of 32-bit slots
        self._status = _STATUS_LEDS[board["status_led"]["kind"]](board["status_led"])
        self._buttons = []
        for name, bit in (("mute", BUTTON_MUTE), ("action", BUTTON_ACTION)):
            b = board["buttons"][name]
            pin = Pin(b["pin"], Pin.IN, _PULLS[b.get("pull")])
            self._buttons.append((pin, b.get("active", 0), bit))
        self._wdt = None
        self._poll = select.poll()
        self._poll.register(sys.stdin, select.POLLIN)
        self._one = bytearray(1)

    def mic_start(self):
        if self._running:
            return
        if self._mic_power:
            self._mic_power.set(True)
        try:
            self._mic.start()
        except BaseException:
            self.mic_stop()
            raise
        self._running = True

    def mic_stop(self):
        # Order matters: stop the clock, cut power, forget what was heard. Never raises.
        self._running = False
        try:
            self._mic.stop()
        except Exception:
            pass
        try:
            if self._mic_power:
                self._mic_power.set(False)
        except Exception:
            pass
        try:
            _zero(self._raw, len(self._raw))
        except Exception:
            pass

    def read_frame(self, buf):
        if self._running:
            n = self._mic.readinto(self._raw)
            if n == len(self._raw):
                _slots_to_pcm16(self._raw, buf, FRAME_SAMPLES, self._shift)
                return
        time.sleep_ms(_FRAME_MS)  # stopped (or short read): time still passes, silence
        _zero(buf, FRAME_SAMPLES * 2)

    def set_mute_led(self, on):
        self._mute_led.set(on)

    def set_status_led(self, r, g, b):
        if self._status:  # None: the board has no status LED (its board file says why)
            self._status.set_rgb(r, g, b)

    def buttons(self):
        mask = 0
        for pin, active, bit in self._buttons:
            if pin.value() == active:
                mask |= bit
        return mask

    def ticks_ms(self):
        return time.ticks_ms()

    def wdt_start(self, ms):
        # A watchdog reset boots muted like any other reset.
        if self._wdt is None:
            self._wdt = WDT(timeout=ms)

    def wdt_stop(self):
        # Quirk: an ESP32 watchdog cannot be stopped once started. Making a new WDT
        # reconfigures the task watchdog, so the developer at the REPL gets 24 h instead.
        if self._wdt is not None:
            self._wdt = WDT(timeout=_WDT_LONGEST_MS)
            self._wdt.feed()

    def reset_cause(self):
        # A cause the port has no name for (brown-out, panic) counts as a hard reset.
        return _RESET_CAUSES.get(machine.reset_cause(), 2)

    def wdt_feed(self):
        if self._wdt is not None:
            self._wdt.feed()

    def urandom(self, n):
        return os.urandom(n)

    def serial_read(self, buf):
        # Non-blocking: a byte at a time while poll says one is waiting (stdin's readinto
        # blocks until buf is full). On a developer build Ctrl-C (0x03) never arrives here: the
        # receive handler turns it into KeyboardInterrupt, so host framing never sends a raw
        # 0x03. On a locked build kbd_intr(-1) makes it an ordinary byte (earshot/access.py).
        n = 0
        stdin = sys.stdin.buffer
        one = self._one
        while n < len(buf):
            ready = False
            for _ in self._poll.ipoll(0):
                ready = True
            if not ready or not stdin.readinto(one):
                break
            buf[n] = one[0]
            n += 1
        return n

    def serial_write(self, data):
        sys.stdout.buffer.write(data)

    def fail_safe(self):
        # Mic off and mute LED on from any state, even half-initialised; never raises.
        try:
            self.mic_stop()
        except BaseException:
            pass
        try:
            self._mute_led.set(True)
        except BaseException:  # noqa: B036 - nothing may escape the last line of defence
            pass
