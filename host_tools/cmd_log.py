"""earshot log: read the board's transparency log, verify its hash chain, show it."""

from .target import add_port_argument


def setup(p):
    add_port_argument(p)
    p.add_argument("--json", action="store_true", help="machine-readable, verification included")


def fetch(board):
    """The log file's bytes as stored on the board, and the board's idea of its head."""
    from .proto import T_EVENT

    reply = board.command("log", timeout=15.0)
    lines = []
    for f in board.frames(0):
        if f.type == T_EVENT and f.event().get("ev") == "log":
            lines += f.event()["lines"]
    if len(lines) != reply["lines"]:
        from .errors import ProtocolError

        raise ProtocolError("log transfer incomplete: %d of %d lines" % (len(lines), reply["lines"]))
    return "".join(lines).encode(), reply


def run(args):
    from .client import Board
    from .errors import EarshotError
    from .target import open_target
    from .translog import render, verify_log

    with open_target(args.port) as port, Board(port) as board:
        board.hello()
        data, reply = fetch(board)
    result = verify_log(data)
    print(render(result, as_json=args.json))
    if not result.ok:
        raise EarshotError("transparency log does not verify: %s" % result.error)
    if result.entries and list(result.head) != list(reply["head"]):
        raise EarshotError("log head on the board (#%s) differs from the verified chain (#%s)"
                           % (reply["head"][0], result.head[0]))
    return 0
