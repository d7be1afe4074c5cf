"""earshot deploy: compile with mpy-cross for the board's CPU, copy with mpremote, verify."""

from .common import add_json_argument, add_port_argument


def setup(p):
    add_port_argument(p)
    p.add_argument("--board", default=None, metavar="ID",
                   help="board file id, boards/<ID>.json (default: the virtual board's own for "
                        "--port sim; required for a real board)")
    p.add_argument("--test-mode", action="store_true",
                   help="enable the audio-feed command for hardware-in-the-loop tests (shown on "
                        "the status LED and in the log)")
    add_json_argument(p, "the firmware version the board reports")


def run(args):
    from ..board.deploy import deploy
    from ..errors import EarshotError
    from ..link.target import resolve
    from .common import Progress, print_json

    target = resolve(args.port)
    board = args.board or target.board_id
    if not board:
        raise EarshotError("which board is on %s? pass --board ID (one of the files in boards/; "
                           "earshot ports shows what is connected)" % args.port)
    shown = Progress(quiet=args.json, prefix="deploy: ")
    reply = deploy(target.port, board_id=board, test_mode=args.test_mode, progress=shown,
                   file_progress=shown.files)
    if args.json:
        print_json({"port": target.port, "board": reply.get("board"),
                    "version": reply.get("version"), "test_mode": bool(reply.get("test_mode"))})
    else:
        print("ok: firmware %s on %s, board %s%s" % (reply["version"], target.port, reply["board"],
                                                     ", TEST MODE" if args.test_mode else ""))
    return 0
