"""The board's USB serial input, as the ESP32-S3 port's receive path handles host bytes.

On the board every received byte goes through one test before MicroPython sees it
(micropython/micropython ports/esp32/usb_serial_jtag.c usb_serial_jtag_isr_handler,
shared/tinyusb/mp_usbd_cdc.c tud_cdc_rx_cb, ports/esp32/uart.c uart_irq_handler):

    if (c == mp_interrupt_char) mp_sched_keyboard_interrupt(); else ringbuf_put(&stdin_ringbuf, c);

`mp_interrupt_char` (shared/runtime/interrupt_char.c) is -1 unless something set it:
shared/runtime/pyexec.c parse_compile_execute() sets it to Ctrl-C just before it runs boot.py,
main.py or a REPL/raw-REPL line and back to -1 right after, and `micropython.kbd_intr(c)` sets
it from Python. So 0x03 interrupts running code only while the interrupt char is Ctrl-C; at any
other time (waiting at the REPL prompt, or after `micropython.kbd_intr(-1)`) it is an ordinary
byte in stdin. The virtual board's runtime (rt/vboard.py) reports every change over the world
socket; this class turns 0x03 into SIGINT (the Unix port's Ctrl-C) or passes it on as data.

After a chip reset the native USB port re-enumerates: the host cannot reach MicroPython until the
firmware's USB stack is up, well after the first script has started (shared/tinyusb/mp_usbd.c is
initialised from ports/esp32/main.c mp_task before boot.py; enumeration by the host takes
100 ms or more). Bytes sent meanwhile are held and arrive, in order, `USB_UP_S` after the runtime
announced itself. A soft reset keeps the USB connection.
"""

import threading
import time

CTRL_C = 3
USB_UP_S = 0.3
# On the board a second Ctrl-C while the first is still pending only sets the same pending
# exception again (mp_sched_keyboard_interrupt). The Unix port instead exits when SIGINT comes
# twice before the first is handled (ports/unix/unix_mphal.c sighandler: "this is the second
# time we are called, so die straight away"), so interrupts this close together are one.
_COALESCE_S = 0.05


class ConsoleInput:
    def __init__(self, write_stdin, interrupt):
        self._write = write_stdin  # bytes -> MicroPython's stdin
        self._interrupt = interrupt  # () -> SIGINT to the MicroPython process
        self._lock = threading.Lock()
        self._char = -1
        self._up = False
        self._held = bytearray()
        self._epoch = 0  # which boot a pending "USB up" timer belongs to
        self._last_intr = 0.0
        self.interrupts = 0  # 0x03 bytes that became KeyboardInterrupt
        self.passed = 0  # 0x03 bytes that reached stdin as data

    @property
    def interrupt_char(self):
        return self._char

    def reset(self, keep_usb):
        """A new MicroPython process starts: mp_interrupt_char is -1 again; a chip reset (not
        `keep_usb`) also drops the USB connection until the next come_up()."""
        with self._lock:
            self._char = -1
            self._epoch += 1
            if not keep_usb:
                self._up = False
                self._held.clear()

    def booted(self):
        """The runtime announced itself: the USB port comes up a moment later."""
        with self._lock:
            if self._up:
                return
            epoch = self._epoch
        timer = threading.Timer(USB_UP_S, self._come_up, args=(epoch,))
        timer.daemon = True
        timer.start()

    def _come_up(self, epoch):
        with self._lock:
            if epoch != self._epoch or self._up:
                return
            self._up = True
            held, self._held = bytes(self._held), bytearray()
            self._deliver(held)

    def set_char(self, c):
        """micropython.kbd_intr(c) / mp_hal_set_interrupt_char(c) on the board."""
        with self._lock:
            self._char = c if 0 <= c < 256 else -1

    def feed(self, data):
        """Bytes the host wrote to the port."""
        with self._lock:
            if not self._up:
                self._held += data
                return
            self._deliver(data)

    def power_off(self):
        with self._lock:
            self._epoch += 1
            self._up = False
            self._held.clear()

    def _deliver(self, data):
        char = self._char
        if char < 0 or bytes((char,)) not in data:
            if data:
                self.passed += data.count(CTRL_C)
                self._write(data)
            return
        parts = data.split(bytes((char,)))
        for i, part in enumerate(parts):
            if part:
                self._write(part)
            if i < len(parts) - 1:
                self.interrupts += 1
                now = time.monotonic()
                if now - self._last_intr > _COALESCE_S:
                    self._last_intr = now
                    self._interrupt()
