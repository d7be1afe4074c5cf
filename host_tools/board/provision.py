"""Provisioning: give a board its device id and a fresh 32-byte signing key.

The key is written to a local key file (the receiver needs it to verify sessions) and sent to
the board once; the board never sends it back. Nothing is lost on the way: the key file's place
is checked and the key written to a temporary file beside it before the board sees the key, and
it becomes the key file only once the board has taken it. An existing key file is never
replaced unless asked (`replace`). Replacing a board's key needs both of its buttons held together.
"""

import os
import secrets
import sys

from ..errors import EarshotError
from . import keys


def provision(port, device_id=None, key_file=None, replace=False, countdown=None, by=None,
              history=None):
    """Provision the board `port` names (a --port value); returns (device id, key file path,
    outcome). outcome is None when the board took the key at once, "applied" after the button.
    `by` names the computer to the household (shown while the request waits). Interrupted
    meanwhile, the request is withdrawn on the board and no key file is kept.
    Local mistakes (a bad device id, a key file in the way) fail before the board is reached;
    a device id this computer's receiver history (`history`: a path, None for the default)
    already gave to another board, or received sessions under from another board, fails
    before the board gets a key. The history remembers which board (its chip id) took it.
    """
    from ..records.history import History

    from ..link.client import Client
    from ..link.target import resolve

    if device_id is None:  # not given; an empty --device-id "" is a mistake, said as one
        device_id = "earshot-" + secrets.token_hex(3)
    device_id = keys.check_device_id(device_id)
    path = keys.KeyFile(key_file or keys.default_key_path(device_id), replace=replace)
    port = resolve(port).port
    key = os.urandom(keys.KEY_SIZE)
    history = History.load(history)
    with Client(port, timeout=15.0) as board:
        hello = board.hello()
        _one_board_per_id(hello, device_id, history)  # before anything is written
        with path.staged(key):
            reply, outcome = board.command_confirmed("provision", countdown=countdown,
                                                     device_id=device_id, key=key.hex(),
                                                     **({"by": by} if by else {}))
            if outcome in ("expired", "cancelled"):
                raise EarshotError("%s: nobody confirmed the new key on the board; it keeps its "
                                   "old key and no key file was written" % outcome)
            path.commit()
        if hello.get("chip_id"):
            # Which board is this device id, for the next provision and record on this computer
            # (saved merged with what other earshot programs wrote meanwhile). The board and the
            # key file are done: a history that cannot be written is a warning, not a failure.
            history.set_chip(device_id, hello["chip_id"])
            try:
                history.save()
            except EarshotError as e:
                print("earshot: warning: %s; this computer will not know that %s is this board"
                      % (e, device_id), file=sys.stderr)
    return device_id, path.path, outcome


def _one_board_per_id(hello, device_id, history):
    """Two boards signing as one device id: the receiver takes the second one's sessions for
    replays of the first's (its counters start again) and refuses them. A board that already
    is `device_id` (a key replacement) may keep it, unless this computer gave that id to
    another chip."""
    chip, given = hello.get("chip_id"), history.chip(device_id)
    if chip and given and chip != given:
        raise EarshotError("device id %s is taken: this computer gave it to another board (chip "
                           "%s), and this board is chip %s. Two boards with one id look like "
                           "replays of each other, so the second one's sessions would be "
                           "refused: give this board another --device-id"
                           % (device_id, given, chip))
    if hello.get("device_id") == device_id or not history.knows(device_id):
        return
    top = history.max_counter(device_id)
    raise EarshotError("device id %s is taken: this computer has received sessions from a "
                       "board called %s (up to counter %d), and this board is %s. Two boards "
                       "with one id look like replays of each other, so the second one's "
                       "sessions would be refused: give this board another --device-id"
                       % (device_id, device_id, top, "%s" % hello["device_id"]
                          if hello.get("device_id") else "not provisioned"))
