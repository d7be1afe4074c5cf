"""earshot consent show | set PRESET | guest on|off: the household's consent on the board."""

from .common import add_port_argument


def setup(p):
    add_port_argument(p)
    p.add_argument("action", choices=("show", "set", "guest"))
    p.add_argument("value", nargs="?", help="preset (private, assistant, history, contribute) or on/off")


def run(args):
    from ..errors import EarshotError
    from ..link.client import Client
    from ..link.target import open_target

    with open_target(args.port) as port, Client(port) as board:
        board.hello()
        if args.action == "show":
            reply = board.command("status")
        elif args.action == "set":
            if not args.value:
                raise EarshotError("consent set needs a preset: private, assistant, history, contribute")
            reply = board.command("consent", preset=args.value)
        else:
            if args.value not in ("on", "off"):
                raise EarshotError("consent guest needs on or off")
            reply = board.command("consent", guest=args.value == "on")
    c = reply["consent"]
    print("consent %s%s; may: %s" % (c["preset"], " [guest]" if c["guest"] else "",
                                    ", ".join(c["flags"]) or "nothing leaves the board"))
    if reply.get("result") == "needs_confirmation" or c.get("pending"):
        print("waiting: press the action button on the board within 10 s to allow '%s'" % c["pending"])
    return 0
