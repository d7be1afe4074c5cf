"""`earshot flash`: MicroPython onto a real ESP32-S3, then the Earshot application on top.

Step 1 (host_tools.flashing): detect the chip, refuse a wrong chip/board/image, erase, write
the image at the board's offset with esptool's progress bar, reset into the application.
Step 2: wait for MicroPython to come back (native USB may re-enumerate under a new path),
deploy the firmware, provision it and read its version back over the Earshot protocol.
"""

import importlib
import json
import time
from pathlib import Path

from . import flashing
from .errors import EarshotError

BOARDS_DIR = Path(__file__).resolve().parent.parent / "boards"


def setup(parser):
    parser.add_argument("--board", required=True, help="board id: a file boards/<id>.json")
    parser.add_argument("--port", required=True, help="serial port of the board")
    parser.add_argument("--micropython", required=True, metavar="FILE.bin",
                        help="MicroPython firmware image (the build the board file names)")
    parser.add_argument("--before", default="default-reset",
                        choices=["default-reset", "usb-reset", "no-reset"],
                        help="how to enter the bootloader (no-reset: already in download mode)")
    parser.add_argument("--after", choices=["hard-reset", "watchdog-reset", "no-reset"],
                        help="how to leave it (default: what suits the port)")
    parser.add_argument("--baud", type=int, default=460800, help="flashing baud rate")
    parser.add_argument("--no-erase", action="store_true", help="keep the rest of the flash")
    parser.add_argument("--force", action="store_true",
                        help="flash even if flash size or PSRAM differ from the board file")
    parser.add_argument("--no-deploy", action="store_true",
                        help="stop after MicroPython is written (skip step 2)")
    parser.add_argument("--wait", type=float, default=20.0, metavar="S",
                        help="seconds to wait for the board to come back after flashing")


def load_board(board_id):
    path = BOARDS_DIR / ("%s.json" % board_id)
    if not path.is_file():
        known = ", ".join(sorted(p.stem for p in BOARDS_DIR.glob("*.json"))) or "none"
        raise EarshotError("no board file boards/%s.json: use one of %s" % (board_id, known))
    try:
        return json.loads(path.read_text())
    except ValueError as e:
        raise EarshotError("boards/%s.json is not valid JSON: %s" % (board_id, e)) from None


def read_image(path, board):
    try:
        return Path(path).read_bytes()
    except OSError as e:
        mp = board.get("micropython", {})
        raise EarshotError("cannot read %s (%s): download %s%s from %s" % (
            path, e.strerror, mp.get("build", "ESP32_GENERIC_S3"),
            "-" + mp["variant"] if mp.get("variant") else "", mp.get("where", "micropython.org")))


def usb_serial_number(port):
    """The USB serial number behind `port`, to find it again if it re-enumerates."""
    try:
        from serial.tools import list_ports
    except ImportError:
        return None
    for p in list_ports.comports():
        if p.device == port:
            return p.serial_number
    return None


def find_port(port, serial_number):
    if Path(port).exists():
        return port
    if serial_number:
        from serial.tools import list_ports

        for p in list_ports.comports():
            if p.serial_number == serial_number:
                return p.device
    return None


def micropython_answers(port, timeout=0.5):
    """True if a MicroPython REPL answers Ctrl-C on `port`."""
    try:
        with flashing.open_port(port) as ser:
            ser.timeout = timeout
            ser.write(b"\r\x03\x03")
            return b">>>" in ser.read(256)
    except (EarshotError, OSError):
        return False


def wait_for_board(port, serial_number, timeout):
    """Wait until MicroPython answers again; returns the (possibly new) port path."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        current = find_port(port, serial_number)
        if current and micropython_answers(current):
            return current
        time.sleep(0.3)
    current = find_port(port, serial_number)
    if current and flashing.answers_as_bootloader(current):
        raise EarshotError("the board is still in download mode after flashing: release BOOT "
                           "(GPIO0), press RESET, then run `earshot flash ... --before no-reset` "
                           "again or `earshot deploy --port %s`" % current)
    raise EarshotError("MicroPython did not come back on %s within %.0f s: press RESET; with "
                       "native USB find its new path with `earshot ports`" % (port, timeout))


def _lead_function(module, name, done):
    """A step-2 function from the rest of the tool, or a clear error if this build lacks it."""
    try:
        return getattr(importlib.import_module("host_tools." + module), name)
    except (ImportError, AttributeError):
        raise EarshotError("%s, but this build has no host_tools.%s.%s: finish with `earshot "
                           "%s --port ...`" % (done, module, name, module)) from None


def deploy_and_verify(port, board_id):
    """Deploy the application, provision it, and read its version back; returns hello."""
    deploy = _lead_function("deploy", "deploy", "MicroPython is flashed")
    deploy(port, board_id, progress=lambda msg: print("earshot: " + msg))
    provision = _lead_function("cmd_provision", "provision", "the firmware is deployed")
    provision(port)
    info = _lead_function("client", "probe", "the board is provisioned")(port, timeout=2.0)
    if not info or not info.get("version"):
        raise EarshotError("the application did not answer after provisioning on %s: run "
                           "`earshot status --port %s` to see why" % (port, port))
    return info


def run(args):
    board = load_board(args.board)
    image = read_image(args.micropython, board)
    serial_number = usb_serial_number(args.port)
    chip = flashing.flash_micropython(
        args.port, board, args.board, image, Path(args.micropython).name, before=args.before,
        after=args.after, erase=not args.no_erase, force=args.force, baud=args.baud)
    print("earshot: MicroPython written to %s (%s, MAC %s)" % (
        args.port, chip["description"], chip["mac"]))
    if args.no_deploy:
        return 0
    if args.after == "no-reset":
        raise EarshotError("--after no-reset leaves the board in the bootloader: reset it, then "
                           "run `earshot deploy --port %s`" % args.port)
    port = wait_for_board(args.port, serial_number, args.wait)
    info = deploy_and_verify(port, args.board)
    print("earshot: %s runs Earshot %s on %s" % (args.board, info["version"], port))
    return 0
