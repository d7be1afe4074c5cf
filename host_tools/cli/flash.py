"""`earshot flash`: MicroPython onto a real ESP32-S3, then the Earshot application on top.

Step 1 (host_tools.flash.esptool_flow): detect the chip, refuse a wrong chip/board/image, erase,
write the image at the board's offset with esptool's progress bar, reset into the application.
Step 2 (host_tools.flash.reboot): wait for MicroPython to come back (native USB may
re-enumerate under a new path), deploy the firmware, provision it and read its version back.
"""

from pathlib import Path

from .common import SECONDS, Number


def setup(parser):
    parser.add_argument("--board", required=True, metavar="ID",
                        help="board file id: a file boards/<ID>.json")
    parser.add_argument("--port", required=True,
                        help="serial port of the board, as `earshot ports` lists it (a device, a "
                             "pyserial URL, or sim:NAME for a virtual board in download mode)")
    parser.add_argument("--micropython", required=True, metavar="FILE.bin",
                        help="MicroPython firmware image (the build the board file names)")
    parser.add_argument("--before", default="default-reset",
                        choices=["default-reset", "usb-reset", "no-reset"],
                        help="how to enter the bootloader (no-reset: already in download mode)")
    parser.add_argument("--after", choices=["hard-reset", "watchdog-reset", "no-reset"],
                        help="how to leave it (default: what suits the port: watchdog-reset on "
                             "native USB, hard-reset on a USB-UART bridge)")
    parser.add_argument("--baud", type=Number(int, 0, 8_000_000, of="bits per second"),
                        default=460800,
                        help="flashing baud rate (default: 460800; 0 keeps the bootloader's own)")
    parser.add_argument("--no-erase", action="store_true", help="keep the rest of the flash")
    parser.add_argument("--force", action="store_true",
                        help="flash even if flash size or PSRAM differ from the board file (the "
                             "image must still be an ESP32-S3 image)")
    parser.add_argument("--no-deploy", action="store_true",
                        help="stop after MicroPython is written (skip step 2)")
    parser.add_argument("--wait", type=SECONDS, default=20.0, metavar="S",
                        help="seconds to wait for the board to come back after flashing "
                             "(default: 20)")


def run(args):
    from ..board import files
    from ..board.deploy import interrupted
    from ..errors import EarshotError
    from ..flash.esptool_flow import flash_micropython
    from ..flash.image import read_image
    from ..flash.reboot import deploy_and_verify, usb_serial_number, wait_for_board
    from ..link.target import resolve
    from .common import Progress

    board = files.load(args.board)
    image = read_image(args.micropython, board)
    port = resolve(args.port).port
    serial_number = usb_serial_number(port)
    chip = flash_micropython(
        port, board, args.board, image, Path(args.micropython).name, before=args.before,
        after=args.after, erase=not args.no_erase, force=args.force, baud=args.baud)
    print("MicroPython written to %s (%s, MAC %s)" % (port, chip["description"], chip["mac"]),
          flush=True)
    if args.no_deploy:
        return 0
    if args.after == "no-reset":
        raise EarshotError("--after no-reset leaves the board in the bootloader: reset it, then "
                           "run `earshot deploy --port %s`" % args.port)
    with interrupted("MicroPython is written to %s but Earshot is not on it yet: `earshot deploy "
                     "--port %s --board %s` puts it there" % (port, port, args.board)):
        port = wait_for_board(port, serial_number, args.wait)
        shown = Progress(prefix="deploy: ")
        info = deploy_and_verify(port, args.board, progress=shown, file_progress=shown.files)
    print("ok: %s runs Earshot %s on %s" % (args.board, info["version"], port))
    return 0
