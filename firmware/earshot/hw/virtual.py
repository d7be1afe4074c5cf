# Hardware layer for the virtual board (MicroPython Unix port under host_tools/sim).
#
# The "physical world" (microphone and its I2S DMA buffer, buttons and mute switch, pins,
# serial line, watchdog) is a host process reached over a Unix socket named by
# $EARSHOT_SIM_SOCK; the USB serial is this process's stdin/stdout. Board time is the world's
# clock: the audio clock plus what serial and flash writes cost. See host_tools/sim/world.py
# and host_tools/sim/wire.py (the opcodes and pin ids, one copy for both sides).
import os
import select
import socket
import struct
import sys

from micropython import const

from earshot.hw import (BUTTON_MUTE, NO_PDM, NotSupportedError, console_rate_note,
                        chip_id, console_settings, host_took, mute_is_switch, reset_cause_from,
                        set_clock)

_FRAME = const(320)
_HEADER = const(9)  # wire.FRAME_HEADER: buttons u8, lost u16, backlog u16, ticks u32
_PIN_MUTE_LED = const(0)
_PIN_MIC_POWER = const(1)
_PIN_STATUS_LED = const(2)
_PIN_SPEAKER_AMP = const(3)
# ticks_ms() wraps at 2**30 on the board (py/mpconfig.h MICROPY_PY_TIME_TICKS_PERIOD); the Unix
# port's own ticks wrap at 2**62, so the virtual board does the board's arithmetic itself.
_PERIOD = const(0x40000000)
_HALF = const(0x20000000)
_MASK = const(0x3FFFFFFF)


class Hardware:
    FRAME_SAMPLES = _FRAME

    def __init__(self, board):
        self.board = board
        path = os.getenv("EARSHOT_SIM_SOCK")
        if not path:
            raise OSError("EARSHOT_SIM_SOCK not set: not running on the virtual board")
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(struct.pack("<H", socket.AF_UNIX) + path.encode() + bytes(1))
        self._sock = s
        self._head = bytearray(_HEADER)
        self._ack = bytearray(1)
        self._pin = bytearray(5)
        self._pin[0] = ord("P")
        self._wdt = bytearray(5)
        self._wdt[0] = ord("W")
        self._ser = bytearray(5)
        self._ser[0] = ord("S")
        self._ser_reply = bytearray(8)  # delivered u32, blocked_us u32
        self._ticks = 0
        self._backlog = 0
        self._buttons = 0
        self._switch = mute_is_switch(board)
        self._hw_muted = False
        self._mic_on = False
        self._in = sys.stdin.buffer
        self._one = bytearray(1)
        self._out = sys.stdout.buffer
        self._poll = select.poll()
        self._poll.register(sys.stdin, select.POLLIN)
        # As hw.esp32: 240 MHz at boot, on the virtual board's machine.freq (host_tools/sim/rt/
        # vboard.py), which starts at the plain build's 160 MHz.
        import machine

        self.cpu_hz, note = set_clock(machine)
        if note:
            print(note)
        self.chip_id = chip_id(machine)  # the eFuse MAC (the virtual board's: from its flash path)
        baud, wake_ms = console_settings(board)
        if baud:
            # What hw.esp32 does to UART0 and its wake timer, told to the world's serial model,
            # which answers what upstream's machine.UART raises after setting the rate.
            msg = bytearray(6)
            msg[0] = ord("U")
            struct.pack_into("<IB", msg, 1, baud, wake_ms)
            s.write(msg)
            err = bytearray(4)
            self._read_exact(err)
            code = struct.unpack("<i", err)[0]
            if code:
                print(console_rate_note(baud, OSError(code, "ESP_ERR_INVALID_STATE"))[1])

    # -- microphone -----------------------------------------------------------------------

    def mic_start(self):
        if self.board["mic"].get("kind") == "pdm":
            raise NotSupportedError(NO_PDM)  # as hw.esp32 on an upstream build
        self._set_pin(_PIN_MIC_POWER, 1, 0, 0)
        self._mic_on = True

    def mic_stop(self):
        self._mic_on = False
        try:
            self._set_pin(_PIN_MIC_POWER, 0, 0, 0)
        except OSError:
            pass

    def read_frame(self, buf):
        s = self._sock
        s.write(b"F")
        h = self._head
        self._read_exact(h)
        self._read_exact(buf)
        mask = h[0]
        if self._switch:
            self._hw_muted = bool(mask & BUTTON_MUTE)
            mask &= ~BUTTON_MUTE
        self._buttons = mask
        self._backlog = h[3] | (h[4] << 8)
        self._ticks = h[5] | (h[6] << 8) | (h[7] << 16) | (h[8] << 24)
        if not self._mic_on:
            # I2S is stopped: whatever arrived is discarded, the frame is silence.
            for i in range(len(buf)):
                buf[i] = 0
            return 0
        return h[1] | (h[2] << 8)

    def backlog(self):
        return self._backlog

    def _read_exact(self, buf):
        n = self._sock.readinto(buf)
        if n == len(buf):
            return
        mv = memoryview(buf)  # a short read is rare: only then do we allocate
        while n < len(buf):
            got = self._sock.readinto(mv[n:])
            if not got:
                raise OSError("virtual world went away")
            n += got

    # -- outputs ----------------------------------------------------------------------------

    def _set_pin(self, pin, r, g, b):
        p = self._pin
        p[1] = pin
        p[2] = r
        p[3] = g
        p[4] = b
        self._sock.write(p)
        # A GPIO write takes effect at once on a board: wait until the world has applied it,
        # so nothing the firmware says afterwards can overtake the pin change.
        self._read_exact(self._ack)

    def speaker(self):
        # The board file's "speaker" (a virtual one): its frames go to the world, which
        # records them in board time and lets the microphone hear them (host_tools/sim/world.py).
        spec = self.board.get("speaker")
        if not spec or not spec.get("fitted", True):
            return None
        return _Speaker(self)

    def set_mute_led(self, on):
        self._set_pin(_PIN_MUTE_LED, 1 if on else 0, 0, 0)

    def set_status_led(self, r, g, b):
        self._set_pin(_PIN_STATUS_LED, r, g, b)

    def buttons(self):
        return self._buttons

    def hardware_muted(self):
        return self._hw_muted

    # -- time: board time in ms, wrapping like the ESP32-S3's ticks_ms() ------------------------

    def ticks_ms(self):
        return self._ticks

    def ticks_diff(self, a, b):
        return ((a - b + _HALF) & _MASK) - _HALF

    def ticks_add(self, t, delta):
        return (t + delta) & _MASK

    # -- watchdog -------------------------------------------------------------------------------

    def wdt_start(self, ms):
        struct.pack_into("<I", self._wdt, 1, ms)
        self._sock.write(self._wdt)

    def wdt_feed(self):
        self._sock.write(b"w")

    def wdt_stop(self):
        self._sock.write(b"D")

    def reset_cause(self):
        return reset_cause_from(int(os.getenv("EARSHOT_RESET_CAUSE") or 1),
                                int(os.getenv("EARSHOT_CHIP_RESET") or 0))

    # -- serial ---------------------------------------------------------------------------------

    def serial_read(self, buf):
        # FileIO.readinto waits until the buffer is full, so take one byte per ready poll.
        n = 0
        one = self._one
        poll = self._poll
        while n < len(buf):
            ready = False
            for _ in poll.ipoll(0):
                ready = True
            if not ready or not self._in.readinto(one):
                break
            buf[n] = one[0]
            n += 1
        return n

    def serial_write(self, data):
        # The world charges the board time the real driver would block for, and says how much
        # of it a host that stopped reading still gets (host_tools/sim/serial_line.py).
        n = len(data)
        struct.pack_into("<I", self._ser, 1, n)
        self._sock.write(self._ser)
        r = self._ser_reply
        self._read_exact(r)
        delivered = r[0] | (r[1] << 8) | (r[2] << 16) | (r[3] << 24)
        if delivered >= n:
            self._out.write(data)
        elif delivered:
            self._out.write(memoryview(data)[:delivered])  # rare: only the host's stall
        # What sys.stdout.buffer.write returns on the board (all of it), and how long it blocked.
        return host_took(n, r[4] | (r[5] << 8) | (r[6] << 16) | (r[7] << 24))

    def urandom(self, n):
        return os.urandom(n)

    def fail_safe(self):
        try:
            self.mic_stop()
        finally:
            try:
                self.set_mute_led(True)
            except OSError:
                pass



class _Speaker:
    # start(), write(frame), stop(): the interface of hw/speaker_esp32.py's drivers.
    def __init__(self, hw):
        self._hw = hw

    def start(self):
        self._hw._set_pin(_PIN_SPEAKER_AMP, 1, 0, 0)

    def write(self, frame):
        s = self._hw._sock
        s.write(b"O")
        s.write(frame)

    def stop(self):
        self._hw._set_pin(_PIN_SPEAKER_AMP, 0, 0, 0)
