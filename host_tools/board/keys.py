"""Signing keys on the host: the one reader, the one writer, and where keys are kept.

A key file holds the board's 32-byte HMAC key as 64 hex digits and a newline (what `earshot
provision` writes) or as 32 raw bytes. `keys/<device id>.key` is the default place.
"""

import os
import re
from pathlib import Path

from ..errors import EarshotError

KEY_SIZE = 32
KEYS_DIR = Path("keys")
KEY_ENV = "EARSHOT_KEY_FILE"
# What the firmware accepts as a device id (1..64 bytes), narrowed to a safe file name.
_DEVICE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}\Z")


def read_key(path):
    """The key in `path` (64 hex digits or 32 raw bytes), or a one-line EarshotError."""
    if not path:
        raise EarshotError("no signing key: pass --key-file F or set %s" % KEY_ENV)
    try:
        data = Path(path).read_bytes()
    except IsADirectoryError:
        raise EarshotError("key file %s is a directory: give the .key file earshot provision "
                           "wrote (keys/<device id>.key)" % path) from None
    except OSError as e:
        raise EarshotError("cannot read key file %s: %s" % (path, e.strerror or e)) from None
    text = data.strip()
    if len(text) == 2 * KEY_SIZE:
        try:
            return bytes.fromhex(text.decode("ascii"))
        except (UnicodeDecodeError, ValueError):
            pass
    if len(data) == KEY_SIZE:
        return data
    raise EarshotError("key file %s must hold 32 bytes or 64 hex digits "
                       "(the key given to `earshot provision`)" % path)


def check_device_id(device_id):
    """A device id that is also a safe file name (keys/<id>.key stays inside keys/)."""
    if not _DEVICE_ID.match(device_id) or ".." in device_id:
        raise EarshotError("device id %r: use 1-64 letters, digits, '.', '_' or '-', starting "
                           "with a letter or digit (it names the key file)" % device_id)
    return device_id


def default_key_path(device_id):
    return KEYS_DIR / ("%s.key" % check_device_id(device_id))


def write_key(path, key):
    """Write a new key file readable by its owner only (0600)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(key.hex() + "\n")
    return path
