"""Put MicroPython on an ESP32-S3 with esptool's Python API, refusing anything that won't boot.

Checks happen before anything is erased: the chip must be an ESP32-S3 matching the board file
(`chip`, `flash_size`, `psram`), and the image must be an ESP32-S3 build that fits. The image's
first sector (the boot header) is written last, so a flash interrupted part-way leaves a chip
that does not boot a half image and is plainly not flashed.
"""

import contextlib
import errno
import grp
import os
import re
import struct

from .errors import EarshotError, PortError

SECTOR = 0x1000
ESP32S3_IMAGE_CHIP_ID = 9
IMAGE_CHIP_IDS = {0: "ESP32", 2: "ESP32-S2", 5: "ESP32-C3", 9: "ESP32-S3", 12: "ESP32-C2",
                  13: "ESP32-C6", 16: "ESP32-H2", 18: "ESP32-P4", 23: "ESP32-C5"}
# eFuse PSRAM capacity code -> (size in MB, bus). In-package PSRAM of 8/16 MB is octal
# (ESP32-S3R8/R16V), 2/4 MB is quad (ESP32-S3R2/FH4R2).
PSRAM_BY_CAP = {1: (8, "octal"), 2: (2, "quad"), 3: (16, "octal"), 4: (4, "quad")}


class FlashError(EarshotError):
    """Flashing was refused or failed; nothing past this point should look like success."""


def parse_size(text):
    """'8MB' / '16 MB' / 8388608 -> bytes."""
    if isinstance(text, int):
        return text
    m = re.fullmatch(r"\s*(\d+)\s*([KM]B)\s*", str(text), re.IGNORECASE)
    if not m:
        raise FlashError("board file has flash_size %r: write it like \"8MB\"" % (text,))
    return int(m.group(1)) * (1024 if m.group(2).upper() == "KB" else 1024 * 1024)


def mb(n):
    return "%d MB" % (n // (1024 * 1024)) if n % (1024 * 1024) == 0 else "%d bytes" % n


def board_offset(board):
    offset = board.get("micropython", {}).get("offset", 0)
    return int(offset, 0) if isinstance(offset, str) else int(offset)


def check_image(image, name, board, flash_size=None):
    """Refuse an image that is not an ESP32-S3 build or does not fit the flash."""
    if not image:
        raise FlashError("%s is empty: download the %s build from %s" % (
            name, board.get("micropython", {}).get("build", "ESP32_GENERIC_S3"),
            board.get("micropython", {}).get("where", "https://micropython.org/download/")))
    # An ESP app/bootloader image starts with magic 0xE9; its extended header carries the chip id.
    if image[0] == 0xE9 and len(image) >= 16:
        chip_id = struct.unpack("<H", image[12:14])[0]
        if chip_id != ESP32S3_IMAGE_CHIP_ID:
            raise FlashError("%s is a build for %s, not ESP32-S3: download ESP32_GENERIC_S3" % (
                name, IMAGE_CHIP_IDS.get(chip_id, "chip id %d" % chip_id)))
    offset = board_offset(board)
    for limit, what in ((flash_size, "the chip's flash"), (board_flash_size(board), "the board's flash")):
        if limit and offset + len(image) > limit:
            raise FlashError("%s is %d bytes but %s is %s (from offset 0x%x): use a build for "
                             "this flash size" % (name, len(image), what, mb(limit), offset))


def board_flash_size(board):
    return parse_size(board["flash_size"]) if board.get("flash_size") else None


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


def _port_group(port):
    try:
        return grp.getgrgid(os.stat(port).st_gid).gr_name
    except (OSError, KeyError):
        return "dialout"


def open_port(port, baud=115200):
    """Open `port` exclusively, turning each way it can fail into a one-line fix."""
    import serial

    try:
        return serial.serial_for_url(port, baudrate=baud, exclusive=True, timeout=0.5)
    except (serial.SerialException, OSError) as e:
        code = getattr(e, "errno", None)
        text = str(e)
        if code == errno.EACCES or "Permission denied" in text:
            group = _port_group(port)
            raise PortError("permission denied on %s: join the '%s' group (sudo usermod -aG %s "
                            "$USER), then log out and in again" % (port, group, group)) from None
        if code == errno.ENOENT or "No such file" in text:
            raise PortError("no device at %s: plug the board in, or find it with "
                            "`earshot ports`" % port) from None
        if code in (errno.EBUSY, errno.EAGAIN) or "lock" in text.lower() or "busy" in text.lower():
            raise PortError("%s is busy: close the other program using it (serial monitor, "
                            "another earshot or esptool)" % port) from None
        raise PortError("cannot open %s: %s" % (port, text)) from None


@contextlib.contextmanager
def esptool_errors(port, step):
    """Translate esptool and serial failures during `step[0]` into one-line FlashErrors."""
    import serial
    from esptool.util import FatalError

    try:
        yield
    except EarshotError:
        raise
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
    ser = open_port(port)
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
    from .romloader_proto import slip_encode

    sync = slip_encode(struct.pack("<BBHI", 0, 0x08, 36, 0) + b"\x07\x07\x12\x20" + b"\x55" * 32)
    try:
        with open_port(port) as ser:
            ser.timeout = timeout
            ser.reset_input_buffer()
            ser.write(sync)
            return b"\xc0\x01\x08" in ser.read(64)
    except (EarshotError, OSError):
        return False

