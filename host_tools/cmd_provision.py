"""earshot provision: give a board its device id and a fresh 32-byte signing key.

The key is written to a local key file (the receiver needs it to verify sessions) and sent to
the board once; the board never sends it back. Replacing a key needs the action button.
"""

import os
import secrets
from pathlib import Path

from .target import add_port_argument


def setup(p):
    add_port_argument(p)
    p.add_argument("--device-id", help="default: earshot-<random>")
    p.add_argument("--key-file", default=None, help="where to keep the key (default: keys/<device id>.key)")


def provision(port, device_id=None, key_file=None):
    from .client import Board

    device_id = device_id or "earshot-" + secrets.token_hex(3)
    key = os.urandom(32)
    path = Path(key_file or Path("keys") / (device_id + ".key"))
    path.parent.mkdir(parents=True, exist_ok=True)
    with Board(port, timeout=15.0) as board:
        board.hello()
        board.command("provision", device_id=device_id, key=key.hex())
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(key.hex() + "\n")
    return device_id, path


def run(args):
    from .target import open_target

    with open_target(args.port) as port:
        device_id, path = provision(port, args.device_id, args.key_file)
    print("provisioned %s; key kept in %s (needed by earshot verify/record)" % (device_id, path))
    return 0
