"""What a write to the board's serial port costs in board time, as upstream MicroPython does it.

On ESP32_GENERIC_S3 builds (`MICROPY_HW_ENABLE_UART_REPL` 1 in
ports/esp32/boards/ESP32_GENERIC_S3/mpconfigboard.h) `mp_hal_stdout_tx_strn`
(ports/esp32/mphalport.c) writes every byte of stdout twice, one after the other:

1. to UART0, the REPL mirror: `uart_stdout_tx_strn` (ports/esp32/uart.c) pushes what fits into
   the 128-byte TX FIFO (`uart_hal_write_txfifo`, SOC_UART_FIFO_LEN on the ESP32-S3) and, while
   bytes remain, sleeps in `ulTaskNotifyTake(pdFALSE, 1)`: until the next FreeRTOS tick (10 ms:
   ESP-IDF's default CONFIG_FREERTOS_HZ of 100, which ports/esp32/boards/sdkconfig.base keeps)
   or until something notifies the main task. The FIFO drains at the line rate, baud / 10 bytes
   per second (8N1). Boot rate: MICROPY_HW_UART_REPL_BAUD, 115200 (ports/esp32/uart.h).
2. to the native USB port (`mp_usbd_cdc_tx_strn`, shared/tinyusb/mp_usbd_cdc.c): the same shape
   with TinyUSB's 256-byte CDC TX FIFO (CFG_TUD_CDC_TX_BUFSIZE at full speed,
   shared/tinyusb/tusb_config.h) and `mp_event_wait_ms(1)`, which on the esp32 port is again a
   one-tick `ulTaskNotifyTake`; the host drains it at USB full-speed bulk rate.

A host that holds the port open (DTR set: tud_cdc_connected()) but stops reading: the CDC FIFO
fills and mp_usbd_cdc_tx_strn waits, giving up after MICROPY_HW_USB_CDC_TX_TIMEOUT (500 ms,
shared/tinyusb/mp_usbd_cdc.h; ports/esp32/usb.h) without progress and returning what it wrote.
mp_hal_stdout_tx_strn then returns that short count, or, when USB took nothing, the UART
mirror's full count (`if (cdc_res > 0)`); and sys.stdout.buffer.write loops on a short count
(py/stream.c mp_stream_rw), so the next call writes the rest to the UART again and waits
another 500 ms on USB. So a write blocks 0.5-1 s, returns its full length, and the host gets
only what fitted in the FIFO (`host_stops_reading`).

So the tick, not the baud rate, bounds a long write: 128 B per 10 ms on the UART (11.5 KB/s at
115200, 12.8 KB/s at any higher rate) and 256 B per 10 ms on USB. A periodic machine.Timer wakes
the main task from its ISR (ports/esp32/machine_timer.c: `mp_hal_wake_main_task_from_isr`), so
with one running every `wake_ms` the waits end at that period instead of the tick.
"""

TICK_MS = 10  # ESP-IDF default CONFIG_FREERTOS_HZ = 100
# machine.UART(0, baudrate=...) on the REPL UART: ports/esp32/machine_uart.c init_helper calls
# uart_set_baudrate (the rate changes), then uart_set_rx_full_threshold, which without an
# installed driver returns ESP_ERR_INVALID_STATE (esp-idf esp_driver_uart/src/uart.c), and
# check_esp_err raises OSError(-0x103). The rate stays changed.
REPL_UART_ERROR = -0x103
UART_FIFO = 128  # SOC_UART_FIFO_LEN, ESP32-S3
USB_FIFO = 256  # CFG_TUD_CDC_TX_BUFSIZE, full speed
USB_RATE = 1_216_000  # bytes/s: 19 bulk packets of 64 bytes per 1 ms USB frame
BOOT_BAUD = 115200  # MICROPY_HW_UART_REPL_BAUD
CDC_TX_TIMEOUT_US = 500_000  # MICROPY_HW_USB_CDC_TX_TIMEOUT


class Fifo:
    """A transmit FIFO the CPU fills and the line drains at `rate` bytes per second."""

    def __init__(self, size, rate):
        self.size = size
        self.rate = rate
        self.level = 0.0
        self.t_us = 0
        self.stalled = (0, 0)  # board time (us) during which nobody drains it

    def drain_to(self, t_us):
        if t_us > self.t_us:
            start, end = self.stalled
            busy = max(0, min(t_us, end) - max(self.t_us, start))  # not drained meanwhile
            self.level = max(0.0, self.level - (t_us - self.t_us - busy) * self.rate / 1e6)
            self.t_us = t_us

    def write_cdc(self, n, t_us, wake_us, timeout_us=CDC_TX_TIMEOUT_US):
        """mp_usbd_cdc_tx_strn: (time it returns, bytes it took); it gives up after timeout_us
        without progress."""
        took = 0
        last = t_us
        while True:
            self.drain_to(t_us)
            put = int(min(self.size - self.level, n - took))
            if put > 0:
                self.level += put
                took += put
                last = t_us
            if took >= n or t_us - last >= timeout_us:
                return t_us, took
            t_us = (t_us // wake_us + 1) * wake_us

    def write(self, n, t_us, wake_us):
        """Push n bytes starting at board time t_us; return the time the writer returns."""
        left = n
        while True:
            self.drain_to(t_us)
            put = min(self.size - self.level, left)
            if put > 0:
                self.level += put
                left -= put
            if left <= 0:
                return t_us
            # The writer sleeps until the next wake-up: a tick, or the wake timer's period.
            t_us = (t_us // wake_us + 1) * wake_us


class SerialLine:
    """The serial path of an ESP32_GENERIC_S3 board: the UART0 mirror, then USB CDC.

    uart_mirror=False models a build without the UART REPL; usb=False a host on the UART bridge
    only (USB CDC not connected: TinyUSB then does not wait). cost_free=True is the old ideal
    line (writes take no board time).
    """

    def __init__(self, baud=BOOT_BAUD, tick_ms=TICK_MS, uart_mirror=True, usb=True,
                 cost_free=False):
        self.tick_us = int(tick_ms * 1000)
        self.uart = Fifo(UART_FIFO, baud / 10.0) if uart_mirror else None
        self.usb = Fifo(USB_FIFO, USB_RATE) if usb else None
        self.cost_free = cost_free
        self.wake_us = self.tick_us
        self.bytes = 0
        self.delivered = 0  # bytes of the last write the host got
        self.stalled_writes = 0  # writes that ran into the USB CDC timeout
        self.busy_us = 0
        self.longest_us = 0

    @property
    def baud(self):
        return int(self.uart.rate * 10) if self.uart else None

    def configure(self, baud=None, wake_ms=None):
        """What the firmware set: UART0's baud rate, and a wake timer period (0: none).
        Returns the error machine.UART raises after setting the rate (REPL_UART_ERROR)."""
        if baud and self.uart:
            self.uart.rate = baud / 10.0
        if wake_ms is not None:
            self.wake_us = min(self.tick_us, int(wake_ms * 1000)) if wake_ms else self.tick_us
        return REPL_UART_ERROR if baud else 0

    def host_stops_reading(self, start_us, ms):
        """The host keeps the port open but reads nothing from board time start_us for ms."""
        if self.usb is not None:
            self.usb.stalled = (start_us, start_us + int(ms * 1000))

    def write(self, n, now_us):
        """Board time (us) a write of n bytes blocks the firmware, starting at now_us;
        `delivered` is then how many of them the host gets."""
        self.bytes += n
        self.delivered = n
        if self.cost_free or n <= 0:
            return 0
        t = now_us
        left = n
        self.delivered = 0
        while left > 0:  # sys.stdout.buffer.write: py/stream.c mp_stream_rw loops
            if self.uart is not None:
                t = self.uart.write(left, t, self.wake_us)
            if self.usb is None:
                self.delivered = n
                break
            t, took = self.usb.write_cdc(left, t, self.wake_us)
            self.delivered += took
            if not took or took == left:
                break  # 0 from USB: the UART mirror's count (all) is returned
            left -= took
        cost = t - now_us
        self.busy_us += cost
        self.longest_us = max(self.longest_us, cost)
        if cost >= CDC_TX_TIMEOUT_US:
            self.stalled_writes += 1
        return cost

    def sustained_bytes_per_s(self):
        """The line's long-run capacity for back-to-back writes (what a stream can rely on)."""
        per_byte = 0.0
        for fifo in (self.uart, self.usb):
            if fifo is not None:
                per_wake = fifo.size if self.wake_us * fifo.rate / 1e6 > fifo.size else \
                    self.wake_us * fifo.rate / 1e6
                per_byte += self.wake_us / 1e6 / per_wake
        return 1.0 / per_byte if per_byte else float("inf")
