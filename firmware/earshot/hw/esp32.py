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

from earshot.hw import (BUTTON_ACTION, BUTTON_MUTE, NO_PDM, NotSupportedError, chip_id,
                        console_rate_note, console_settings, host_took, mute_is_switch,
                        reset_cause_from, set_clock)

FRAME_SAMPLES = 320  # 20 ms at 16 kHz
_FRAME_MS = const(20)
_BLOCKED_US = const(2000)  # a read that waited this long found the DMA buffer empty
_WDT_LONGEST_MS = const(86_400_000)  # what wdt_stop() settles for: 24 h
# machine.reset_cause() constants -> the hw package numbering (1 power-on .. 5 soft reset)
_RESET_CAUSES = {getattr(machine, name, -1): n + 1 for n, name in enumerate(
    ("PWRON_RESET", "HARD_RESET", "WDT_RESET", "DEEPSLEEP_RESET", "SOFT_RESET"))}
# The chip's own reset reason: RTC_CNTL_RESET_STATE_REG, field RTC_CNTL_RESET_CAUSE_PROCPU, bits
# 5:0 (read-only). Address: the RTC_CNTL (low-power management) block at 0x6000_8000 in the
# ESP32-S3 Technical Reference Manual's peripheral address map, register offset 0x0038 in its
# "Low-power Management" register summary; esp-idf's generated headers agree
# (components/soc/esp32s3/register/soc/reg_base.h DR_REG_RTCCNTL_BASE 0x60008000,
# register/soc/rtc_cntl_reg.h RTC_CNTL_RESET_STATE_REG = base + 0x38, RESET_CAUSE_PROCPU
# mask 0x3F). esp_reset_reason() reads the same field (esp_rom_get_reset_reason(0)).
_RTC_CNTL_RESET_STATE = const(0x60008038)
_REPL_BAUD = const(115200)  # MICROPY_HW_UART_REPL_BAUD (ports/esp32/uart.h)
# machine.I2S RX DMA: ibuf // (256 frames * 8 bytes) buffers of 256 samples each
# (ports/esp32/machine_i2s.c get_dma_buf_count: RX always reads 32-bit stereo frames).
_DMA_FRAME_BYTES = const(2048)
_DMA_BUF_SAMPLES = const(256)
_PULLS = {"up": Pin.PULL_UP, "down": Pin.PULL_DOWN, None: None, "none": None}


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
        raise NotSupportedError(NO_PDM)  # see earshot.hw.NO_PDM


# Mic kinds by board "mic.kind"; only codec boards pay for loading the codec driver.
_MICS = {"i2s": I2SMic, "pdm": _PdmMic,
         "es7210": lambda spec: __import__("earshot.hw.esp32_es7210", None, None, ["Mic"]).Mic(spec)}


def _wake(timer):
    # The wake timer's callback does nothing: its ISR has already woken the main task.
    pass


class Hardware:
    FRAME_SAMPLES = FRAME_SAMPLES

    def __init__(self, board):
        self.board = board
        self._pump = None
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
        self._switch = None
        for name, bit in (("mute", BUTTON_MUTE), ("action", BUTTON_ACTION)):
            b = board["buttons"][name]
            pin = Pin(b["pin"], Pin.IN, _PULLS[b.get("pull")])
            if name == "mute" and mute_is_switch(board):
                # A latched switch reports the hardware mute *state* (ESP32-S3-BOX-3: GPIO1 is
                # esp-bsp's BSP_MUTE_STATUS; the switch itself cuts the ES7210's power and I2S
                # data). It is read as state, never as a button press.
                self._switch = (pin, b.get("active", 0))
                continue
            self._buttons.append((pin, b.get("active", 0), bit))
        self._wdt = None
        self._poll = select.poll()
        self._poll.register(sys.stdin, select.POLLIN)
        self._one = bytearray(1)
        # I2S DMA backlog estimate (see read_frame)
        ibuf = mic.get("ibuf", 10240)
        self._dma_samples = max(2, ibuf // _DMA_FRAME_BYTES) * _DMA_BUF_SAMPLES
        self._backlog = 0
        self._last_read = time.ticks_us()
        # 240 MHz, not the plain build's 160 (earshot.hw.set_clock has the upstream lines)
        self.cpu_hz, note = set_clock(machine)
        if note:
            print(note)
        self.chip_id = chip_id(machine)  # the base MAC, from eFuse
        self._console(board)

    def speaker(self):
        # The speaker driver (hw/speaker_esp32.py), or None: board file "speaker".
        from earshot.hw.speaker_esp32 import open_speaker

        return open_speaker(self.board)

    def _console(self, board):
        # Quirk: on ESP32_GENERIC_S3 builds (MICROPY_HW_ENABLE_UART_REPL 1) every byte of stdout
        # is also written to UART0, and uart_stdout_tx_strn (ports/esp32/uart.c) blocks until it
        # is all in the 128-byte TX FIFO, sleeping one FreeRTOS tick (10 ms) whenever the FIFO is
        # full; TinyUSB's CDC write (shared/tinyusb/mp_usbd_cdc.c) waits a tick per 256 bytes the
        # same way. That caps the serial line near 8 KB/s, a quarter of what a session streams.
        # Two fixes, both from upstream's own API:
        # - machine.UART(0, baudrate=...) on the REPL UART only reconfigures it (ports/esp32/
        #   machine_uart.c mp_machine_uart_make_new skips the driver reset for
        #   MICROPY_HW_UART_REPL and calls uart_set_baudrate): 921600 baud drains the FIFO in
        #   1.4 ms. A host on the board's USB-UART bridge must then use that rate (board file
        #   console.uart_baud; earshot opens every port at it).
        # - a periodic machine.Timer: its ISR wakes the main task (machine_timer.c calls
        #   mp_hal_wake_main_task_from_isr), so those driver waits end after wake_ms, not 10 ms.
        # docs/protocol.md states the resulting budget.
        # - machine.UART(0, ...) sets the rate and then raises on the REPL UART (see
        #   console_rate_note for the upstream lines): the message says the rate in force.
        baud, wake_ms = console_settings(board)
        if baud:
            try:
                machine.UART(0, baudrate=baud)
            except OSError as e:
                print(console_rate_note(baud, e)[1])
            except ValueError as e:
                print("earshot: console UART0 stays at its boot rate:", e)
        if wake_ms:
            try:
                self._pump = machine.Timer(0, mode=machine.Timer.PERIODIC, period=wake_ms,
                                           callback=_wake)
            except (OSError, ValueError) as e:
                print("earshot: no serial wake timer:", e)

    def mic_start(self):
        if self._running:
            return
        self._backlog = 0
        self._last_read = time.ticks_us()
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
            t0 = time.ticks_us()
            n = self._mic.readinto(self._raw)
            t1 = time.ticks_us()
            lost = self._account(time.ticks_diff(t1, t0), time.ticks_diff(t1, self._last_read))
            self._last_read = t1
            if n == len(self._raw):
                _slots_to_pcm16(self._raw, buf, FRAME_SAMPLES, self._shift)
                return lost
        time.sleep_ms(_FRAME_MS)  # stopped (or short read): time still passes, silence
        _zero(buf, FRAME_SAMPLES * 2)
        self._backlog = 0
        self._last_read = time.ticks_us()
        return 0

    def _account(self, waited_us, since_us):
        # machine.I2S has no "bytes waiting" query, so the DMA backlog is estimated: a read that
        # had to wait found the buffer empty (backlog 0); one that returned at once took a frame
        # that was already there, and the time since the previous read added audio. What
        # exceeds the DMA buffer was dropped by the driver, oldest first.
        if waited_us >= _BLOCKED_US:
            self._backlog = 0
            return 0
        b = self._backlog + since_us * 16 // 1000 - FRAME_SAMPLES
        if b < 0:
            b = 0
        lost = 0
        if b > self._dma_samples:
            lost = b - self._dma_samples
            b = self._dma_samples
        self._backlog = b
        return lost

    def backlog(self):
        return self._backlog

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

    def hardware_muted(self):
        sw = self._switch
        return sw is not None and sw[0].value() == sw[1]

    def ticks_ms(self):
        return time.ticks_ms()

    def ticks_diff(self, a, b):
        return time.ticks_diff(a, b)

    def ticks_add(self, t, delta):
        return time.ticks_add(t, delta)

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
        # The developer at the REPL talks at the boot rate again (mpremote opens 115200).
        if console_settings(self.board)[0]:
            try:
                machine.UART(0, baudrate=_REPL_BAUD)
            except (OSError, ValueError):
                pass
        if self._pump is not None:
            self._pump.deinit()
            self._pump = None

    def reset_cause(self):
        # A cause the port has no name for (SDIO, unknown) counts as a hard reset. Upstream
        # counts a brown-out as power-on (ports/esp32/modmachine.c mp_machine_reset_cause), so
        # a power-on is checked against the chip's own reset reason (reset_cause_from).
        cause = _RESET_CAUSES.get(machine.reset_cause(), 2)
        chip = 0
        if cause == 1:
            try:
                chip = machine.mem32[_RTC_CNTL_RESET_STATE] & 0x3F
            except Exception:  # noqa: BLE001 - unreadable: not a clean power-on either
                return 2
        return reset_cause_from(cause, chip)

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
        # The count alone cannot tell a host that stopped reading; the time it took can
        # (earshot.hw.host_took has the upstream lines).
        t0 = time.ticks_us()
        n = sys.stdout.buffer.write(data)
        return host_took(n, time.ticks_diff(time.ticks_us(), t0))

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
