"""earshot dashboard: the household's page (mute, consent, streaming, the verified log).

With --wyoming or --pipelines the same process also runs the Wyoming bridge, so the page shows
what the bridge refused to forward (a serial port has one owner: this process).
"""

from .household import (add_board_arguments, add_bridge_arguments, open_targets,
                        pipelines_from, ports_from, read_key_if)

DEFAULT_BIND = "127.0.0.1:8765"


def setup(p):
    add_board_arguments(p)
    p.add_argument("--bind", metavar="HOST:PORT", default=DEFAULT_BIND,
                   help="where the page listens (default %s: this computer only)" % DEFAULT_BIND)
    p.add_argument("--lan", action="store_true",
                   help="allow a --bind address other computers reach; the page then asks "
                        "for a token once")
    add_bridge_arguments(p, required=False)


def parse_bind(text):
    from ..errors import UsageError

    host, sep, port = text.rpartition(":")
    host = host.strip("[]")
    if not sep or not host or not port.isdigit() or int(port) > 65535:
        raise UsageError("--bind %s: give HOST:PORT, e.g. 127.0.0.1:8765" % text)
    return host, int(port)


def run(args):
    from ..hub import serve

    bind = parse_bind(args.bind)
    pipelines = pipelines_from(args)
    key = read_key_if(args.key_file, "the Wyoming bridge" if pipelines else None)
    ports = ports_from(args)
    if pipelines and len(ports) != 1:
        from ..errors import EarshotError

        raise EarshotError("the Wyoming bridge serves one board: give one --port (run one "
                           "earshot bridge per board)")
    sock = serve.listen(bind, args.lan)
    try:
        with open_targets(ports) as opened:
            return serve.run(opened, key=key, sock=sock, lan=args.lan, pipelines=pipelines,
                             allow=args.allow, zeroconf=args.zeroconf, history=args.history,
                             area=args.area,
                             test_sessions=args.forward_test_sessions)
    finally:
        sock.close()
