# A fake `machine` (imported as fake_machine) for running firmware/earshot/hw/esp32.py in the
# MicroPython Unix port.
# Tests inject it with sys.modules["machine"] = fake_machine: the Unix port has a built-in one.
# Module-level dicts and lists are the test's view of the world; each test is a fresh process.

LOG = []  # ("pin", id, level) / ("i2s", "init"|"deinit", id) / ("i2c", addr, reg, value)
LEVELS = {}  # input levels the "world" drives, by GPIO number
PINS = {}  # the last Pin object made for each GPIO number


PWRON_RESET = 1
HARD_RESET = 2
WDT_RESET = 3
DEEPSLEEP_RESET = 4
SOFT_RESET = 5
RESET_CAUSE = [PWRON_RESET]  # what reset_cause() reports


def reset_cause():
    return RESET_CAUSE[0]


def unique_id():
    # ports/esp32/modmachine.c mp_machine_unique_id: the eFuse base MAC, 6 bytes
    return b"\x24\x0a\xc4\x5e\xa7\x01"


# The CPU clock: 160 MHz at boot, ESP-IDF's default, which upstream's plain ESP32_GENERIC_S3
# build keeps (no boards/sdkconfig.240mhz); freq(hz) as ports/esp32/modmachine.c
# mp_machine_set_freq: 20/40/80/160/240 MHz, anything else ValueError.
FREQ = [160_000_000]


def freq(hz=None):
    if hz is None:
        return FREQ[0]
    mhz = hz // 1_000_000
    if mhz not in (20, 40, 80, 160, 240):
        raise ValueError("frequency must be 20MHz, 40MHz, 80Mhz, 160MHz or 240MHz")
    FREQ[0] = mhz * 1_000_000
    LOG.append(("freq", FREQ[0]))


class _Mem32:
    regs = {0x60008038: 1}  # address -> value: RTC_CNTL_RESET_STATE of a clean power-on

    def __getitem__(self, addr):
        return _Mem32.regs.get(addr, 0)


mem32 = _Mem32()


class UART:
    bauds = {}  # id -> the last baudrate set

    def __init__(self, id, baudrate=None, **kw):
        self.id = id
        if baudrate:
            UART.bauds[id] = baudrate
            LOG.append(("uart", id, baudrate))
        if id == 0:
            # As upstream on the REPL UART (ports/esp32/machine_uart.c, init_helper): the rate is
            # set (uart_set_baudrate), then uart_set_rx_full_threshold finds no driver installed
            # and check_esp_err raises OSError(-0x103, "ESP_ERR_INVALID_STATE").
            raise OSError(-259, "ESP_ERR_INVALID_STATE")


class Timer:
    PERIODIC = 1
    ONE_SHOT = 0
    running = {}  # id -> (period, callback)

    def __init__(self, id, mode=None, period=None, callback=None):
        self.id = id
        Timer.running[id] = (period, callback)

    def deinit(self):
        Timer.running.pop(self.id, None)


class Pin:
    IN = 1
    OUT = 3
    PULL_UP = 2
    PULL_DOWN = 1

    def __init__(self, id, mode=None, pull=None, value=None):
        self.id = id
        self.mode = mode
        self.pull = pull
        self._out = value
        PINS[id] = self
        if mode == Pin.OUT and value is not None:
            LOG.append(("pin", id, value))

    def value(self, v=None):
        if v is None:
            if self.mode == Pin.IN:
                idle = 1 if self.pull == Pin.PULL_UP else 0
                return LEVELS.get(self.id, idle)
            return self._out
        self._out = 1 if v else 0
        LOG.append(("pin", self.id, self._out))


class I2S:
    RX = 0
    TX = 1
    MONO = 0
    STEREO = 1
    instances = []
    feed = b""  # bytes every readinto() returns, repeated to fill the buffer
    has_mck = False  # upstream esp32 builds reject mck=
    fail_deinit = False

    def __init__(self, id, **kw):
        if "mck" in kw and not I2S.has_mck:
            raise TypeError("unexpected keyword argument 'mck'")
        self.id = id
        self.kw = kw
        self.running = True
        I2S.instances.append(self)
        LOG.append(("i2s", "init", id))

    def readinto(self, buf):
        feed = I2S.feed
        for i in range(len(buf)):
            buf[i] = feed[i % len(feed)] if feed else 0
        return len(buf)

    def deinit(self):
        if I2S.fail_deinit:
            raise OSError(5)
        self.running = False
        LOG.append(("i2s", "deinit", self.id))


class I2C:
    regs = {}  # (addr, reg) -> value

    def __init__(self, id, scl=None, sda=None, freq=400000):
        self.id = id

    def writeto_mem(self, addr, reg, buf):
        I2C.regs[(addr, reg)] = buf[0]
        LOG.append(("i2c", addr, reg, buf[0]))

    def readfrom_mem_into(self, addr, reg, buf):
        buf[0] = I2C.regs.get((addr, reg), 0)


class WDT:
    def __init__(self, id=0, timeout=5000):
        self.timeout = timeout
        self.feeds = 0
        LOG.append(("wdt", "start", timeout))

    def feed(self):
        self.feeds += 1
