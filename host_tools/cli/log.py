"""earshot log: read the board's transparency log, verify its hash chain, show it."""

from .common import add_port_argument


def setup(p):
    add_port_argument(p)
    p.add_argument("--json", action="store_true", help="machine-readable, verification included")


def run(args):
    from ..errors import EarshotError
    from ..link.client import Client
    from ..link.target import open_target
    from ..records.translog import render, verify_log

    with open_target(args.port) as port, Client(port) as board:
        board.hello()
        data, reply = board.read_log()
    result = verify_log(data)
    print(render(result, as_json=args.json))
    if not result.ok:
        raise EarshotError("transparency log does not verify: %s" % result.error)
    if result.entries and list(result.head) != list(reply["head"]):
        raise EarshotError("log head on the board (#%s) differs from the verified chain (#%s)"
                           % (reply["head"][0], result.head[0]))
    return 0
