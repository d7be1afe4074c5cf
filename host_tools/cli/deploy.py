"""earshot deploy: compile with mpy-cross for the board's CPU, copy with mpremote, verify."""

from .common import add_json_argument, add_port_argument, nonempty


def setup(p):
    add_port_argument(p)
    p.add_argument("--board", default=None, metavar="ID", type=nonempty,
                   help="board file id, boards/<ID>.json (default: the virtual board's own for "
                        "--port sim; required for a real board)")
    p.add_argument("--test-mode", action="store_true",
                   help="allow the audio-feed command for hardware-in-the-loop tests (armed by "
                        "holding the action button while the board starts; shown on the status "
                        "LED and in the log)")
    p.add_argument("--locked", action="store_true",
                   help="what a household gets: no REPL, no mpremote, no test mode; updating it "
                        "again needs both buttons held while it starts (docs/threat-model.md)")
    add_wake_word_argument(p)
    add_json_argument(p, "the firmware version the board reports")


def add_wake_word_argument(p):
    p.add_argument("--wake-word", default="alexa", metavar="NAME",
                   help="the one wake-word model the board loads: a shipped one (alexa, "
                        "hey_jarvis) or one `earshot wakeword train` made (default: alexa)")


def run(args):
    from ..board import files
    from ..board.deploy import deploy
    from ..errors import EarshotError
    from ..link.target import resolve
    from ..board.build import wake_word_model
    from .common import Progress, print_json

    wake_word = wake_word_model(args.wake_word)[0]  # before the port is touched
    if args.locked and args.test_mode:
        raise EarshotError("--locked and --test-mode exclude each other: a household's board has "
                           "no test mode")
    if args.board:
        files.load(args.board)  # an unknown board file is said as such, first
    target = resolve(args.port)
    files.check_same_board(args.board, args.port, target.board_id,
                           "is a virtual board started with --board")
    board = args.board or target.board_id
    if not board:
        raise EarshotError("which board is on %s? pass --board ID (one of the files in boards/; "
                           "earshot ports shows what is connected)" % args.port)
    shown = Progress(quiet=args.json, prefix="deploy: ")
    reply = deploy(target.port, board_id=board, test_mode=args.test_mode, locked=args.locked,
                   progress=shown, file_progress=shown.files, named=args.port,
                   wake_word=wake_word)
    if args.json:
        print_json({"port": target.port, "board": reply.get("board"),
                    "version": reply.get("version"), "test_mode": bool(reply.get("test_mode")),
                    "access": reply.get("access", "developer"), "wake_word": wake_word})
        return 0
    print("ok: firmware %s on %s, board %s, wake word %s%s" % (
        reply["version"], target.port, reply["board"], wake_word, ", locked" if args.locked else ""))
    if args.locked:
        print("locked: to update it again, hold both buttons while it starts until the status "
              "LED blinks white, then earshot deploy")
    elif args.test_mode:
        print("test mode: hold the action button while the board starts (about 2 s) to arm it; "
              "it lasts until the next power-on")
    return 0
