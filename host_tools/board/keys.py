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


class KeyFile:
    """Where a new key will be kept: checked before anything happens, written last.

        kf = KeyFile("keys/dev.key")      # refuses a directory, an existing file, a bad place
        with kf.staged(key):              # the key is on disk (a temporary file beside it)
            ...give the key to the board...
            kf.commit()                   # now it is keys/dev.key; without commit: removed
    """

    def __init__(self, path, replace=False):
        self.path = Path(path)
        self.replace = replace
        if self.path.is_dir():
            raise EarshotError("key file %s is a directory: give a file name, e.g. %s"
                               % (self.path, self.path / "board.key"))
        if self.path.exists() and not replace:
            raise EarshotError("key file %s already exists (the key of another board?): choose "
                               "another --key-file, or pass --replace-key-file to overwrite it"
                               % self.path)
        parent = self.path.parent
        if parent.exists() and not parent.is_dir():
            raise EarshotError("cannot keep a key in %s: %s is not a directory"
                               % (self.path, parent))
        self._tmp = None

    def staged(self, key):
        import contextlib

        @contextlib.contextmanager
        def stage():
            # The folders this creates are removed again unless the key is kept: an expired or
            # cancelled provision leaves no empty keys/ behind.
            created = [p for p in (self.path.parent, *self.path.parent.parents)
                       if not p.exists()]
            try:
                try:
                    self.path.parent.mkdir(parents=True, exist_ok=True)
                    fd, self._tmp = _mkstemp(self.path)
                except OSError as e:
                    raise EarshotError("cannot write a key file in %s: %s"
                                       % (self.path.parent, e.strerror or e)) from None
                with os.fdopen(fd, "w") as f:
                    f.write(key.hex() + "\n")
                yield self
            finally:
                if self._tmp and os.path.exists(self._tmp):
                    os.unlink(self._tmp)
                if not self.path.exists():
                    for folder in created:  # deepest first; only if still empty
                        with contextlib.suppress(OSError):
                            folder.rmdir()

        return stage()

    def commit(self):
        """Make the staged key the key file (never replacing one unless `replace`)."""
        try:
            if self.replace:
                os.replace(self._tmp, self.path)
            else:
                os.link(self._tmp, self.path)  # fails if a file appeared there meanwhile
                os.unlink(self._tmp)
        except OSError as e:
            kept, self._tmp = self._tmp, None  # the board has this key: never delete it
            raise EarshotError("the board has the new key but %s could not be written (%s): the "
                               "key is in %s, move it there by hand"
                               % (self.path, e.strerror or e, kept)) from None
        self._tmp = None
        return self.path


def _mkstemp(path):
    import tempfile

    return tempfile.mkstemp(prefix="." + path.name + ".", suffix=".new", dir=path.parent)
