"""What `earshot dashboard` and `earshot bridge` share: ports, key, the bridge's options."""

import contextlib
import os

KEY_ENV = "EARSHOT_KEY_FILE"


def add_board_arguments(p):
    p.add_argument("--port", "-p", action="append", default=None,
                   help="serial port or pyserial URL of a board, repeatable (one page per "
                        "board); 'sim' or 'sim:NAME' is a running virtual board (earshot sim) "
                        "(default: $EARSHOT_PORT)")
    p.add_argument("--key-file", metavar="F", default=os.environ.get(KEY_ENV),
                   help="the board's signing key (earshot provision), to verify audio before "
                        "it is shown or forwarded (default: $%s)" % KEY_ENV)
    from .common import add_history_argument

    add_history_argument(p)  # sessions verified here are checked against it and remembered


def add_bridge_arguments(p, required):
    p.add_argument("--wyoming", metavar="URI", required=False,
                   help="serve the board as a Wyoming satellite here (tcp://HOST:PORT); "
                        "Home Assistant connects to it%s" % ("" if required else
                                                             " (also runs the bridge)"))
    p.add_argument("--uses", metavar="LIST", default=None,
                   help="what the pipeline behind --wyoming does to audio: any of cloud, "
                        "human_review, retain, training, or none (default: cloud)")
    p.add_argument("--pipelines", metavar="FILE",
                   help="several pipelines, each with its endpoint and uses (TOML; see "
                        "docs/household.md) instead of --wyoming/--uses")
    p.add_argument("--allow", metavar="ADDRESS", action="append", default=[],
                   help="the address Home Assistant connects from (repeatable); Wyoming has no "
                        "password, so a pipeline on a non-loopback address needs it")
    p.add_argument("--forward-test-sessions", action="store_true",
                   help="a test rig only: forward sessions a board sent in test mode (their "
                        "audio may be the host's own), each event marked \"earshot\": "
                        "{\"test\": true}; without it they are refused")
    p.add_argument("--area", metavar="NAME", default=None,
                   help="the room the board is in, told to Home Assistant with the satellite "
                        "(e.g. --area Kitchen)")
    p.add_argument("--zeroconf", metavar="NAME", nargs="?", const="earshot", default=None,
                   help="announce the Wyoming endpoints on the network (mDNS), as "
                        "wyoming-satellite does")


def pipelines_from(args):
    """The pipelines the arguments declare ([] for none); EarshotError for a mistake."""
    from ..bridge import pipelines

    found = _pipelines(args)
    if args.forward_test_sessions and not found:
        from ..errors import EarshotError

        raise EarshotError("--forward-test-sessions is about what the Wyoming bridge forwards: "
                           "give --wyoming URI too")
    pipelines.check_allowed(found, args.allow)
    return found


def _pipelines(args):
    from ..bridge import pipelines
    from ..errors import EarshotError

    if args.pipelines and args.wyoming:
        raise EarshotError("give either --wyoming (one pipeline) or --pipelines FILE, not both")
    if args.uses is not None and not args.wyoming:
        raise EarshotError("--uses describes the pipeline of --wyoming: give --wyoming URI too")
    if args.pipelines:
        return pipelines.load(args.pipelines)
    if args.wyoming:
        return pipelines.single(args.wyoming, args.uses)
    if args.zeroconf is not None:
        raise EarshotError("--zeroconf announces the Wyoming endpoints: give --wyoming URI")
    return []


def read_key_if(path, needed_for=None):
    from ..board.keys import read_key
    from ..errors import EarshotError

    if path:
        return read_key(path)
    if needed_for:
        raise EarshotError("%s needs the board's key to verify audio before forwarding it: "
                           "--key-file F (the file earshot provision wrote) or $%s"
                           % (needed_for, KEY_ENV))
    return None


def ports_from(args):
    from ..errors import EarshotError

    ports = args.port or ([os.environ["EARSHOT_PORT"]] if os.environ.get("EARSHOT_PORT") else [])
    if not ports:
        raise EarshotError("no port given: pass --port PORT (earshot ports lists them) or "
                           "--port sim for a virtual board")
    if len(set(ports)) != len(ports):
        raise EarshotError("the same --port is given twice: each board once")
    return ports


@contextlib.contextmanager
def open_targets(ports):
    """Each --port as the user named it, once it is known to resolve to a device
    (link.target.resolve: `sim`, `sim:NAME` are running virtual boards; a wrong one is a one-line
    error now). The names, not today's nodes, go on: the link follows a board that comes back
    from a reset under another node by what it was called (link/again.py)."""
    from ..link.target import resolve

    for p in ports:
        resolve(p)
    yield list(ports)
