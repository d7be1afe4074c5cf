"""earshot deploy: compile with mpy-cross, copy with mpremote, verify the version."""

from .common import add_port_argument


def setup(p):
    add_port_argument(p)
    p.add_argument("--board", default=None,
                   help="board file id (default: virtual for the virtual board, else required)")
    p.add_argument("--test-mode", action="store_true",
                   help="allow the audio-feed command for hardware-in-the-loop tests (armed by "
                        "holding the action button while the board starts)")
    p.add_argument("--locked", action="store_true",
                   help="what a household gets: no REPL, no mpremote, no test mode; updating it "
                        "again needs both buttons held while it starts (docs/threat-model.md)")


def run(args):
    from ..board.deploy import deploy
    from ..errors import EarshotError

    if not args.port or args.port == "sim":
        raise EarshotError("deploy needs --port PORT of a board (earshot sim prints one)")
    board = args.board or _guess_board(args.port)
    reply = deploy(args.port, board_id=board, test_mode=args.test_mode, locked=args.locked,
                   progress=lambda m: print("deploy: " + m, flush=True))
    print("ok: firmware %s on %s, board %s%s" % (reply["version"], args.port, reply["board"],
                                                 ", locked" if args.locked else ""))
    if args.locked:
        print("locked: to update it again, hold both buttons while it starts until the status "
              "LED blinks white, then earshot deploy")
    elif args.test_mode:
        print("test mode: hold the action button while the board starts (about 2 s) to arm it; "
              "it lasts until the next power-on")
    return 0


def _guess_board(port):
    from ..errors import EarshotError

    if port.startswith("/dev/pts/") or "earshot" in port:
        return "virtual"
    raise EarshotError("which board is on %s? pass --board (see boards/*.json)" % port)
