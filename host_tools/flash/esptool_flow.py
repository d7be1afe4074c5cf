"""Put MicroPython on an ESP32-S3 with esptool's Python API, refusing anything that won't boot.

Checks happen before anything is erased: the chip must be an ESP32-S3 matching the board file
(`chip`, `flash_size`, `psram`), and the image must be an ESP32-S3 build that fits. The image's
first sector (the boot header) is written last, so a flash interrupted part-way leaves a chip
that does not boot a half image and is plainly not flashed.
"""

import contextlib
import re
import struct

from ..errors import EarshotError
from ..link.serial_port import open_port
from .image import FlashError, board_flash_size, board_offset, check_image, mb, parse_size
from .rom_protocol import SECTOR, SYNC, SYNC_BODY, slip_encode

# eFuse PSRAM capacity code -> (size in MB, bus). In-package PSRAM of 8/16 MB is octal
# (ESP32-S3R8/R16V), 2/4 MB is quad (ESP32-S3R2/FH4R2).
PSRAM_BY_CAP = {1: (8, "octal"), 2: (2, "quad"), 3: (16, "octal"), 4: (4, "quad")}


def check_chip(chip, board, board_id, force=False):
    """Refuse a chip that is not the ESP32-S3 the board file describes. `chip` from inspect()."""
    if chip["name"] != "ESP32-S3":
        raise FlashError("the board on this port is an %s, not an ESP32-S3: check the port "
                         "with `earshot ports`" % chip["name"])
    if force:
        return
    want = board_flash_size(board)
    if want and chip["flash_size"] and chip["flash_size"] != want:
        raise FlashError("board file %s says %s of flash but the chip reports %s: pick the "
                         "board file for your module (or --force)" % (
                             board_id, mb(want), mb(chip["flash_size"])))
    want_psram = (board.get("psram") or "none").lower()
    have = chip["psram"]  # None when the eFuse does not say
    if want_psram != "none" and have is None:
        raise FlashError("board file %s needs %s PSRAM but the chip reports none in eFuse: use "
                         "the board file for a module without PSRAM (or --force)" % (
                             board_id, want_psram))
    if want_psram != "none" and have and have[1] != want_psram:
        raise FlashError("board file %s needs %s PSRAM but the chip has %d MB %s PSRAM: pick "
                         "the matching board file and MicroPython variant (or --force)" % (
                             board_id, want_psram, have[0], have[1]))


def inspect(esp):
    """What the chip says about itself, from security info, eFuse and the flash's JEDEC id."""
    from esptool.cmds import detect_flash_size

    info = {"name": esp.CHIP_NAME, "mac": ":".join("%02x" % b for b in esp.read_mac()),
            "flash_size": None, "psram": None, "description": esp.get_chip_description()}
    if esp.CHIP_NAME == "ESP32-S3":
        size = detect_flash_size(esp)
        info["flash_size"] = parse_size(size) if size else None
        info["psram"] = PSRAM_BY_CAP.get(esp.get_psram_cap())
    return info


# Ctrl-C during a step of flash_micropython: the state the board is left in, and what recovers it.
_WRITTEN = ("the flash of %(port)s is incomplete (erased or half-written; the boot sector goes "
            "last, so it will not boot a half image): run the same earshot flash command again")
INTERRUPTED = {
    "connect": "nothing was written to %(port)s; it may still wait in its bootloader: press its "
               "RESET button (or unplug it and plug it in) to start what it had",
    "erase": _WRITTEN,
    "write": _WRITTEN,
    "reset": "MicroPython was written to %(port)s; press its RESET button if it does not start, "
             "then run the same earshot flash command again",
}
INTERRUPTED["inspect"] = INTERRUPTED["connect"]


@contextlib.contextmanager
def esptool_errors(port, step):
    """Translate esptool and serial failures during `step[0]` into one-line FlashErrors."""
    import serial
    from esptool.util import FatalError

    try:
        yield
    except EarshotError:
        raise
    except KeyboardInterrupt:
        raise KeyboardInterrupt(INTERRUPTED[step[0]] % {"port": port}) from None
    except (serial.SerialException, OSError, FatalError) as e:
        text = " ".join(str(e).split())
        lost = isinstance(e, (serial.SerialException, OSError)) or re.search(
            r"stream stopped|Timed out|No serial data|device disconnected|returned no data", text)
        if step[0] in ("erase", "write") and lost:
            raise FlashError("the board went away while flashing (%s): the flash is incomplete "
                             "and will not boot; reconnect it and run earshot flash again"
                             % step[0]) from None
        if step[0] == "connect" and "Wrong boot mode" in text:
            raise FlashError("the board on %s booted its application instead of the bootloader "
                             "(auto-reset did not work): hold BOOT, press RESET, release BOOT, "
                             "then retry with --before no-reset" % port) from None
        if step[0] == "connect" and "Unexpected chip" in text:
            raise FlashError("the chip on %s is not an ESP32-S3 (esptool: %s)" % (
                port, text[:100])) from None
        if step[0] == "connect":
            raise FlashError("no ESP32 bootloader answers on %s: hold BOOT, press RESET, release "
                             "BOOT, then retry (%s)" % (port, text[:120])) from None
        raise FlashError("%s failed on %s: %s" % (step[0], port, text[:200])) from None


def flash_micropython(port, board, board_id, image, image_name, before="default-reset",
                      after=None, erase=True, force=False, baud=460800):
    """Check, erase and write `image` at the board's offset; returns inspect()'s dict."""
    from esptool import cmds

    if force:  # --force trusts the chip, not the board file, for sizes
        board = {k: v for k, v in board.items() if k not in ("flash_size", "psram")}
    check_image(image, image_name, board)
    offset = board_offset(board)
    step = ["connect"]
    ser = open_port(port, timeout=0.5)
    try:
        with esptool_errors(port, step):
            esp = cmds.detect_chip(ser, connect_mode=before, connect_attempts=3)
            step[0] = "inspect"
            chip = inspect(esp)
            check_chip(chip, board, board_id, force)
            check_image(image, image_name, board, chip["flash_size"])
            esp = cmds.run_stub(esp)
            if baud and baud != esp._port.baudrate:
                esp.change_baud(baud)
            cmds.attach_flash(esp)
            if erase:
                step[0] = "erase"
                cmds.erase_flash(esp)
            step[0] = "write"
            # Boot header last: an interrupted flash leaves sector 0 erased, not a half image.
            if len(image) > SECTOR:
                cmds.write_flash(esp, [(offset + SECTOR, image[SECTOR:])])
            cmds.write_flash(esp, [(offset, image[:SECTOR])])
            step[0] = "reset"
            cmds.reset_chip(esp, after or reset_mode(esp))
    finally:
        with contextlib.suppress(Exception):
            ser.close()
    return chip


def reset_mode(esp):
    """How to get from the bootloader into the application on this port.

    USB-UART bridges pulse EN through RTS; the native USB (USB-Serial/JTAG, OTG) and ports
    without modem lines (a pty, a socket) cannot, so the RTC watchdog resets the chip there.
    """
    vid_pid = esp.get_usb_vid_pid()
    if vid_pid == (None, None) or vid_pid[0] == 0x303A:
        return "watchdog-reset"
    return "hard-reset"


def answers_as_bootloader(port, timeout=0.5):
    """True if the ROM bootloader answers SYNC on `port` (the board is stuck in download mode)."""
    sync = slip_encode(struct.pack("<BBHI", 0, SYNC, len(SYNC_BODY), 0) + SYNC_BODY)
    try:
        with open_port(port, timeout=timeout) as ser:
            ser.reset_input_buffer()
            ser.write(sync)
            return b"\xc0\x01\x08" in ser.read(64)
    except (EarshotError, OSError):
        return False

