"""earshot deploy: compile with mpy-cross, copy with mpremote, verify the version."""

from .common import add_port_argument


def setup(p):
    add_port_argument(p)
    p.add_argument("--board", default=None,
                   help="board file id (default: virtual for the virtual board, else required)")
    p.add_argument("--test-mode", action="store_true",
                   help="enable the audio-feed command for hardware-in-the-loop tests")


def run(args):
    from ..board.deploy import deploy
    from ..errors import EarshotError

    if not args.port or args.port == "sim":
        raise EarshotError("deploy needs --port PORT of a board (earshot sim prints one)")
    board = args.board or _guess_board(args.port)
    reply = deploy(args.port, board_id=board, test_mode=args.test_mode,
                   progress=lambda m: print("deploy: " + m, flush=True))
    print("ok: firmware %s on %s, board %s" % (reply["version"], args.port, reply["board"]))
    return 0


def _guess_board(port):
    from ..errors import EarshotError

    if port.startswith("/dev/pts/") or "earshot" in port:
        return "virtual"
    raise EarshotError("which board is on %s? pass --board (see boards/*.json)" % port)
