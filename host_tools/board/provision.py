"""Provisioning: give a board its device id and a fresh 32-byte signing key.

The key is written to a local key file (the receiver needs it to verify sessions) and sent to
the board once; the board never sends it back. Replacing a key needs the action button.
"""

import os
import secrets

from . import keys


def provision(port, device_id=None, key_file=None):
    """Provision the board on `port`; returns (device id, key file path)."""
    from ..link.client import Client

    device_id = keys.check_device_id(device_id or "earshot-" + secrets.token_hex(3))
    key = os.urandom(keys.KEY_SIZE)
    path = key_file or keys.default_key_path(device_id)
    with Client(port, timeout=15.0) as board:
        board.hello()
        board.command("provision", device_id=device_id, key=key.hex())
    return device_id, keys.write_key(path, key)
