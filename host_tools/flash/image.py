"""What may be written to an ESP32-S3's flash: image checks, offsets and sizes (board file)."""

import re
import struct
from pathlib import Path

from ..errors import EarshotError
from .rom_protocol import CHIP_ID, MB

IMAGE_CHIP_IDS = {0: "ESP32", 2: "ESP32-S2", 5: "ESP32-C3", 9: "ESP32-S3", 12: "ESP32-C2",
                  13: "ESP32-C6", 16: "ESP32-H2", 18: "ESP32-P4", 23: "ESP32-C5"}


class FlashError(EarshotError):
    """Flashing was refused or failed; nothing past this point should look like success."""


def parse_size(text):
    """'8MB' / '16 MB' / 8388608 -> bytes."""
    if isinstance(text, int):
        return text
    m = re.fullmatch(r"\s*(\d+)\s*([KM]B)\s*", str(text), re.IGNORECASE)
    if not m:
        raise FlashError("board file has flash_size %r: write it like \"8MB\"" % (text,))
    return int(m.group(1)) * (1024 if m.group(2).upper() == "KB" else MB)


def mb(n):
    return "%d MB" % (n // MB) if n % MB == 0 else "%d bytes" % n


def board_offset(board):
    offset = board.get("micropython", {}).get("offset", 0)
    return int(offset, 0) if isinstance(offset, str) else int(offset)


# The image header the ROM bootloader reads (esptool bin_image.py ESP32FirmwareImage, ESP-IDF
# esp_app_format.h esp_image_header_t): magic 0xE9, segment count, SPI mode, SPI speed/size,
# entry address (u32), then the extended header: WP pin, 3 bytes of SPI pin drive, chip id
# (u16 LE at offset 12), minimum revision ... 24 bytes in all. MicroPython's ESP32_GENERIC_S3
# .bin is written at offset 0 and starts with the second-stage bootloader's image, so its
# first bytes are such a header. esptool itself checks the chip id the same way.
IMAGE_MAGIC = 0xE9
_HEADER = struct.Struct("<BBBBIB3sH")  # through the chip id
MAX_SEGMENTS = 16


def download_advice(board):
    """Where to get the image to flash: the board file's MicroPython build. A virtual board's
    file names the Unix port (nothing is flashed there), but whatever answers in ROM download
    mode, a real chip or a virtual board's ROM loader, takes an ESP32-S3 image."""
    mp = board.get("micropython", {})
    if mp.get("build") == "unix":
        mp = {}
    return "download the %s%s build from %s" % (
        mp.get("build", "ESP32_GENERIC_S3"), "-" + mp["variant"] if mp.get("variant") else "",
        mp.get("where", "https://micropython.org/download/ESP32_GENERIC_S3/"))


def check_image(image, name, board, flash_size=None):
    """Refuse what is not an ESP32-S3 image, or does not fit the flash. --force never skips
    this: a wrong file written at offset 0 leaves a board that does not boot."""
    download = download_advice(board)
    if not image:
        raise FlashError("%s is empty: %s" % (name, download))
    if len(image) < 24 or image[0] != IMAGE_MAGIC:
        raise FlashError("%s is not an ESP32 firmware image (it does not start with the image "
                         "header, magic 0xE9): %s" % (name, download))
    magic, segments, _, _, _, _, _, chip_id = _HEADER.unpack_from(image)
    if not 0 < segments <= MAX_SEGMENTS:
        raise FlashError("%s has a damaged image header (%d segments): %s"
                         % (name, segments, download))
    if chip_id != CHIP_ID:
        raise FlashError("%s is a build for %s, not ESP32-S3: %s" % (
            name, IMAGE_CHIP_IDS.get(chip_id, "chip id %d" % chip_id), download))
    offset = board_offset(board)
    for limit, what in ((flash_size, "the chip's flash"),
                        (board_flash_size(board), "the board's flash")):
        if limit and offset + len(image) > limit:
            raise FlashError("%s is %d bytes but %s is %s (from offset 0x%x): use a build for "
                             "this flash size" % (name, len(image), what, mb(limit), offset))


def board_flash_size(board):
    return parse_size(board["flash_size"]) if board.get("flash_size") else None


def read_image(path, board):
    try:
        return Path(path).read_bytes()
    except OSError as e:
        raise EarshotError("cannot read %s (%s): %s" % (path, e.strerror,
                                                        download_advice(board))) from None
