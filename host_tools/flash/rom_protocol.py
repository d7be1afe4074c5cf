"""The serial bootloader protocol of Espressif chips: SLIP framing, opcodes, error codes.

The one copy of this vocabulary: the flash tools (`host_tools.flash`: the sync probe, sector
size, the image's chip id) and the virtual ROM loader (`host_tools.sim.romloader`) both import
it. Opcodes are esptool's `ESPLoader.ESP_CMDS`; error bytes are from Espressif's
serial-protocol documentation ("ROM Loader Errors") and esptool's table of flasher-stub results.
"""

MB = 1024 * 1024
SECTOR = 0x1000

# Command opcodes (esptool ESPLoader.ESP_CMDS)
FLASH_BEGIN, FLASH_DATA, FLASH_END = 0x02, 0x03, 0x04
MEM_BEGIN, MEM_END, MEM_DATA = 0x05, 0x06, 0x07
SYNC, WRITE_REG, READ_REG = 0x08, 0x09, 0x0A
SPI_SET_PARAMS, SPI_ATTACH, READ_FLASH_SLOW, CHANGE_BAUDRATE = 0x0B, 0x0D, 0x0E, 0x0F
FLASH_DEFL_BEGIN, FLASH_DEFL_DATA, FLASH_DEFL_END = 0x10, 0x11, 0x12
SPI_FLASH_MD5, GET_SECURITY_INFO = 0x13, 0x14
ERASE_FLASH, ERASE_REGION, READ_FLASH, RUN_USER_CODE = 0xD0, 0xD1, 0xD2, 0xD3  # stub only

# Failure kind -> (ROM error byte, stub error byte). The ROM's are 0x05 malformed or unknown,
# 0x06 could not act, 0x07 bad checksum, 0x0B inflate; the stub's 0xC0.. and 0xFF.
BAD_LENGTH = (0x05, 0xC0)
UNKNOWN_COMMAND = (0x05, 0xFF)
NOT_IN_FLASH_MODE = (0x06, 0xC6)
PAST_FLASH_END = (0x06, 0xC9)
BAD_CHECKSUM = (0x07, 0xC1)
INFLATE_ERROR = (0x0B, 0xC7)

SYNC_VALUE = 0x20120707
SYNC_BODY = b"\x07\x07\x12\x20" + b"\x55" * 32  # what esptool's sync() sends
CHIP_ID = 9  # ESP32-S3 (esptool ESP32S3ROM.IMAGE_CHIP_ID)


class Refused(Exception):
    """A command the chip refuses; carries the (ROM, stub) error codes."""


def slip_encode(packet):
    return b"\xc0" + packet.replace(b"\xdb", b"\xdb\xdd").replace(b"\xc0", b"\xdb\xdc") + b"\xc0"


class SlipDecoder:
    """Splits a byte stream into SLIP frames; bytes outside frames are dropped like the ROM does."""

    def __init__(self):
        self._buf = None  # None: between frames
        self._esc = False

    def feed(self, data):
        frames = []
        for b in data:
            if b == 0xC0:
                if self._buf:
                    frames.append(bytes(self._buf))
                self._buf, self._esc = bytearray(), False
            elif self._buf is None:
                continue
            elif self._esc:
                self._buf.append({0xDC: 0xC0, 0xDD: 0xDB}.get(b, b))
                self._esc = False
            elif b == 0xDB:
                self._esc = True
            else:
                self._buf.append(b)
        return frames
