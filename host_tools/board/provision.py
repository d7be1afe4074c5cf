"""Provisioning: give a board its device id and a fresh 32-byte signing key.

The key is written to a local key file (the receiver needs it to verify sessions) and sent to
the board once; the board never sends it back. Nothing is lost on the way: the key file's place
is checked and the key written to a temporary file beside it before the board sees the key, and
it becomes the key file only once the board has taken it. An existing key file is never
replaced unless asked (`replace`). Replacing a board's key needs both of its buttons held together.
"""

import os
import secrets

from ..errors import EarshotError
from . import keys


def provision(port, device_id=None, key_file=None, replace=False, countdown=None, by=None):
    """Provision the board `port` names (a --port value); returns (device id, key file path,
    outcome). outcome is None when the board took the key at once, "applied" after the button.
    `by` names the computer to the household (shown while the request waits). Interrupted
    meanwhile, the request is withdrawn on the board and no key file is kept.
    Local mistakes (a bad device id, a key file in the way) fail before the board is reached.
    """
    from ..link.client import Client
    from ..link.target import resolve

    device_id = keys.check_device_id(device_id or "earshot-" + secrets.token_hex(3))
    path = keys.KeyFile(key_file or keys.default_key_path(device_id), replace=replace)
    port = resolve(port).port
    key = os.urandom(keys.KEY_SIZE)
    with path.staged(key):
        with Client(port, timeout=15.0) as board:
            board.hello()
            reply, outcome = board.command_confirmed("provision", countdown=countdown,
                                                     device_id=device_id, key=key.hex(),
                                                     **({"by": by} if by else {}))
        if outcome in ("expired", "cancelled"):
            raise EarshotError("%s: nobody confirmed the new key on the board; it keeps its old "
                               "key and no key file was written" % outcome)
        path.commit()
    return device_id, path.path, outcome
