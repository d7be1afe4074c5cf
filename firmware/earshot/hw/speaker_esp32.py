# The ESP32-S3 speaker drivers, picked by the board file's "speaker" (boards/<id>.json). The
# interface the app's speaker (earshot/speaker.py) uses: start(), write(frame), stop(); start()
# raises OSError (NotSupportedError) when this board's speaker cannot run on this build.
#
# machine.I2S TX as upstream has it (ports/esp32/machine_i2s.c): mode=I2S.TX with bits 16 or
# 32 and format MONO or STEREO; in MONO every sample goes out on both the L and R slots, which
# a MAX98357A (SD_MODE at "(L+R)/2" or either channel) plays; write() blocks until the buffer
# is in DMA memory, and the app writes one 20 ms frame per 20 ms mic frame, so the TX DMA
# (ibuf) never fills and the loop never waits on it.
from machine import I2S, Pin

from earshot.hw import NotSupportedError


class _Amp:
    # The amplifier's enable line (MAX98357A SD, BOX-3 BSP_POWER_AMP_IO): off unless playing,
    # so the idle speaker is silent and draws nothing.
    def __init__(self, spec):
        self.active = spec.get("active", 1) if spec else 1
        self.pin = Pin(spec["pin"], Pin.OUT, value=1 - self.active) if spec else None

    def set(self, on):
        if self.pin is not None:
            self.pin.value(self.active if on else 1 - self.active)


class I2SSpeaker:
    # An I2S amplifier with its own DAC (MAX98357A): 16-bit mono TX, nothing to configure.
    def __init__(self, spec):
        self.spec = spec
        self.i2s = None
        self.amp = _Amp(spec.get("amp"))

    def start(self):
        if self.i2s is not None:
            return
        s = self.spec
        self.i2s = I2S(s.get("i2s_id", 1), sck=Pin(s["sck"]), ws=Pin(s["ws"]), sd=Pin(s["sd"]),
                       mode=I2S.TX, bits=16, format=I2S.MONO, rate=s.get("rate", 16000),
                       ibuf=s.get("ibuf", 8192))
        self.amp.set(True)

    def write(self, frame):
        if self.i2s is not None:
            self.i2s.write(frame)

    def stop(self):
        self.amp.set(False)
        i2s, self.i2s = self.i2s, None
        if i2s is not None:
            i2s.deinit()


class Es8311Speaker:
    # ESP32-S3-BOX-3: the ES8311 codec (I2C 0x18) on the same I2S bus as the ES7210 microphones
    # (esp-bsp bsp/esp-box-3/include/bsp/esp-box-3.h: SCLK GPIO17, MCLK GPIO2, LCLK GPIO45,
    # DOUT GPIO15 to the ES8311, DSIN GPIO16 from the ES7210; BSP_POWER_AMP_IO GPIO46), driven
    # by esp-bsp as one full-duplex I2S channel with MCLK. Upstream machine.I2S has neither: one
    # direction per object, and the MCLK pin hardcoded to unused (see the board file's
    # "experimental"). So it refuses to start and says why; the amplifier stays off.
    fault = ("the BOX-3 speaker (ES8311) shares a full-duplex I2S bus with MCLK with the "
             "microphones; this MicroPython build's machine.I2S has neither")

    def __init__(self, spec):
        self.spec = spec
        self.amp = _Amp(spec.get("amp"))

    def start(self):
        raise NotSupportedError(self.fault)

    def write(self, frame):
        pass

    def stop(self):
        self.amp.set(False)


_KINDS = {"i2s": I2SSpeaker, "es8311": Es8311Speaker}


def open_speaker(board):
    """The board's speaker driver, or None when it has none fitted."""
    spec = board.get("speaker")
    if not spec or not spec.get("fitted", True):
        return None
    kind = _KINDS.get(spec.get("kind"))
    if kind is None:
        raise ValueError("board speaker kind %r is not one of %s" % (spec.get("kind"),
                                                                   sorted(_KINDS)))
    return kind(spec)
