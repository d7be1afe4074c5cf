"""earshot provision: give a board its device id and a fresh 32-byte signing key."""

from .common import add_port_argument


def setup(p):
    add_port_argument(p)
    p.add_argument("--device-id", help="default: earshot-<random>")
    p.add_argument("--key-file", default=None, help="where to keep the key (default: keys/<device id>.key)")


def run(args):
    from ..board.provision import provision
    from ..link.target import open_target

    with open_target(args.port) as port:
        device_id, path = provision(port, args.device_id, args.key_file)
    print("provisioned %s; key kept in %s (needed by earshot verify/record)" % (device_id, path))
    return 0
