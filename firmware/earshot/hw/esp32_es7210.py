# Minimal ES7210 (4-channel audio ADC) bring-up and power-down over I2C, for boards whose
# microphones sit behind one (ESP32-S3-BOX-3), and the microphone hw.esp32 builds on it.
# ES7210 takes its I2C bus as an argument, so it runs against a fake bus in the tests.
#
# Register sequence: ESPHome's es7210 component (esphome/components/es7210/es7210.cpp,
# ES7210::setup) and its clock table (es7210_const.h), which follow Espressif's esp-adf /
# esp-codec-dev driver; power-down: es7210_stop() of the same Espressif driver.
# The ES7210 runs as I2S secondary (slave): the ESP32-S3 drives MCLK, BCLK and LRCK.

from machine import I2C, Pin
from micropython import const

from earshot.hw.esp32 import I2SMic, NotSupportedError

_RESET = const(0x00)
_CLOCK_OFF = const(0x01)
_MAINCLK = const(0x02)
_LRCK_DIVH = const(0x04)
_LRCK_DIVL = const(0x05)
_POWER_DOWN = const(0x06)
_OSR = const(0x07)
_MODE_CONFIG = const(0x08)
_TIME_CONTROL0 = const(0x09)
_TIME_CONTROL1 = const(0x0A)
_SDP_INTERFACE1 = const(0x11)
_SDP_INTERFACE2 = const(0x12)
_ADC34_HPF2 = const(0x20)
_ADC34_HPF1 = const(0x21)
_ADC12_HPF1 = const(0x22)
_ADC12_HPF2 = const(0x23)
_ANALOG = const(0x40)
_MIC12_BIAS = const(0x41)
_MIC34_BIAS = const(0x42)
_MIC1_GAIN = const(0x43)
_MIC1_POWER = const(0x47)
_MIC12_POWER = const(0x4B)
_MIC34_POWER = const(0x4C)

# Clock-table rows for 16 kHz keyed by MCLK: (adc_div, doubler, dll, osr, lrck_h, lrck_l).
# The ESP32-S3 I2S driver's default MCLK is 256 x fs, i.e. 4.096 MHz at 16 kHz.
_CLOCKS_16K = {
    4096000: (0x01, 1, 1, 0x20, 0x01, 0x00),
    12288000: (0x03, 1, 1, 0x20, 0x03, 0x00),
    16384000: (0x02, 0, 1, 0x20, 0x04, 0x00),
}

# SDP word length field (REG11 bits 7:5) by bits per sample; low bits 0 = I2S (Philips) format.
_WORD_BITS = {16: 0x60, 18: 0x40, 20: 0x20, 24: 0x00, 32: 0x80}


def gain_code(gain_db):
    # PGA gain in 3 dB steps up to 33 dB, then 34.5 / 36 / 37.5 dB (codes 12-14).
    g = gain_db + 0.5
    if g <= 33:
        return max(0, int(g / 3))
    if g < 36:
        return 12
    if g < 37:
        return 13
    return 14


class ES7210:
    def __init__(self, i2c, addr=0x40):
        self._i2c = i2c
        self._addr = addr
        self._one = bytearray(1)

    def _write(self, reg, value):
        self._one[0] = value
        self._i2c.writeto_mem(self._addr, reg, self._one)

    def _update(self, reg, mask, value):
        self._i2c.readfrom_mem_into(self._addr, reg, self._one)
        self._write(reg, (self._one[0] & ~mask) | (value & mask))

    def start(self, rate=16000, bits=32, mclk=4096000, gain_db=24):
        if rate != 16000 or mclk not in _CLOCKS_16K:
            raise ValueError("ES7210: only 16 kHz with MCLK %s is tabled" % sorted(_CLOCKS_16K))
        if bits not in _WORD_BITS:
            raise ValueError("ES7210: bits must be one of %s" % sorted(_WORD_BITS))
        w = self._write
        w(_RESET, 0xFF)  # software reset
        w(_RESET, 0x32)
        w(_CLOCK_OFF, 0x3F)  # all clocks off while configuring
        w(_TIME_CONTROL0, 0x30)  # power-up state periods
        w(_TIME_CONTROL1, 0x30)
        w(_ADC12_HPF2, 0x2A)  # high-pass filters on all four ADCs
        w(_ADC12_HPF1, 0x0A)
        w(_ADC34_HPF2, 0x0A)
        w(_ADC34_HPF1, 0x2A)
        self._update(_MODE_CONFIG, 0x01, 0x00)  # secondary (slave) mode
        w(_ANALOG, 0xC3)  # analog power
        w(_MIC12_BIAS, 0x70)
        w(_MIC34_BIAS, 0x70)
        w(_SDP_INTERFACE1, _WORD_BITS[bits])  # I2S format, word length
        w(_SDP_INTERFACE2, 0x00)  # MIC1/2 on SDOUT1, MIC3/4 on SDOUT2, no TDM
        adc_div, doubler, dll, osr, lrck_h, lrck_l = _CLOCKS_16K[mclk]
        w(_MAINCLK, adc_div | (doubler << 6) | (dll << 7))
        w(_OSR, osr)
        w(_LRCK_DIVH, lrck_h)
        w(_LRCK_DIVL, lrck_l)
        self._set_gain(gain_code(gain_db))
        for i in range(4):
            w(_MIC1_POWER + i, 0x08)  # MIC1-4 power on
        w(_POWER_DOWN, 0x04)  # DLL powered down (unused in secondary mode)
        w(_MIC12_POWER, 0x0F)  # MIC bias, ADC and PGA 1-4 on
        w(_MIC34_POWER, 0x0F)
        w(_RESET, 0x71)  # enable the device
        w(_RESET, 0x41)

    def _set_gain(self, code):
        for i in range(4):
            self._update(_MIC1_GAIN + i, 0x10, 0x00)
        self._write(_MIC12_POWER, 0xFF)
        self._write(_MIC34_POWER, 0xFF)
        # MIC1/2 share the clock-off bits 0x0B and power register 0x4B, MIC3/4 use 0x15 and 0x4C.
        for i, clocks, power in ((0, 0x0B, _MIC12_POWER), (1, 0x0B, _MIC12_POWER),
                                 (2, 0x15, _MIC34_POWER), (3, 0x15, _MIC34_POWER)):
            self._update(_CLOCK_OFF, clocks, 0x00)
            self._write(power, 0x00)
            self._update(_MIC1_GAIN + i, 0x10, 0x10)
            self._update(_MIC1_GAIN + i, 0x0F, code)

    def power_down(self):
        # The codec's "mic off": mic power, bias/ADC/PGA power, clocks and DLL all off.
        w = self._write
        for i in range(4):
            w(_MIC1_POWER + i, 0xFF)
        w(_MIC12_POWER, 0xFF)
        w(_MIC34_POWER, 0xFF)
        w(_CLOCK_OFF, 0x7F)
        w(_POWER_DOWN, 0x07)


class Mic(I2SMic):
    # A codec-fronted microphone for hw.esp32: I2C bring-up of the ES7210, I2S with MCLK.
    def __init__(self, spec):
        super().__init__(spec)
        self.codec = None

    def start(self):
        c = self.spec["i2c"]
        bus = I2C(c.get("id", 0), scl=Pin(c["scl"]), sda=Pin(c["sda"]), freq=c.get("freq", 100000))
        self.codec = ES7210(bus, c.get("addr", 0x40))
        try:
            # Quirk: the ES7210 has no clock of its own; it needs MCLK = 256 x fs on the I2S
            # mck pin. Upstream esp32 machine.I2S has no mck= keyword (TypeError), so say what
            # is missing instead of running a codec that can never produce samples.
            self.open(mck=Pin(self.spec["mck"]))
        except TypeError:
            raise NotSupportedError("this MicroPython build's machine.I2S cannot drive MCLK "
                                    "(mck=); the ES7210 microphone needs a build with "
                                    "MICROPY_PY_MACHINE_I2S_MCK, see docs/boards.md")
        # Configure the codec once its clocks run, as esp-codec-dev does.
        self.codec.start(bits=32, gain_db=self.spec.get("gain_db", 24))

    def stop(self):
        try:
            super().stop()
        finally:
            codec, self.codec = self.codec, None
            if codec is not None:
                codec.power_down()
