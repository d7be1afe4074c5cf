# Power-loss-safe small state files (docs/privacy-contract.md, points 3 and 8).
#
# save() writes the whole new state to `<path>.tmp`, closes it, then renames it over `<path>`.
# - On the ESP32-S3 the filesystem is LittleFS v2 (MicroPython's default there): file data is
#   committed when the file is closed, and lfs_rename() replaces the destination atomically, so a
#   power cut leaves either the old file or the new one.
# - On the virtual board (VfsPosix) os.rename() is rename(2), atomic on POSIX filesystems; a
#   "power cut" there kills the process, and bytes already written are in the kernel's cache.
# - FAT refuses to rename over an existing file; _replace() then removes and renames, and load()
#   falls back to the complete `.tmp` if a cut lands between the two.
# Every file carries a checksum of its payload, so a torn or corrupt file reads as None and the
# caller uses the most private defaults. File bytes (one line):
#   b"ES1 " + 16 hex digits (first 8 bytes of SHA-256 of payload) + b" " + payload + b"\n"
# where payload is the JSON text of the state dict.

import binascii
import hashlib
import json
import os

from micropython import const

_MAGIC = b"ES1 "
_HEAD = const(21)  # magic, 16 hex digits, space


def _check(payload):
    return binascii.hexlify(hashlib.sha256(payload).digest()[:8])


def encode(state):
    """The exact file bytes save() writes for `state`."""
    payload = json.dumps(state).encode()
    return _MAGIC + _check(payload) + b" " + payload + b"\n"


def decode(data):
    """File bytes -> dict, or None when torn, corrupt or not a dict."""
    if len(data) < _HEAD + 1 or data[:4] != _MAGIC or data[_HEAD - 1] != 0x20:
        return None
    if data[-1] != 0x0A:
        return None
    payload = data[_HEAD:-1]
    if _check(payload) != data[4 : _HEAD - 1]:
        return None
    try:
        state = json.loads(payload)
    except ValueError:
        return None
    return state if isinstance(state, dict) else None


def _read(path):
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError:
        return None
    return decode(data)


def load(path):
    """The saved dict, or None if missing, torn or corrupt (use the most private defaults)."""
    state = _read(path)
    if state is None:
        # Only a complete, checksummed .tmp is used: it is never older than `path`.
        state = _read(path + ".tmp")
    return state


def _replace(tmp, path):
    try:
        os.rename(tmp, path)
    except OSError:
        # FAT (VfsFat) will not rename over an existing file.
        os.remove(path)
        os.rename(tmp, path)


def save(path, state):
    """Replace the state at `path` with dict `state`; a power cut leaves old or new."""
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(encode(state))
        f.flush()
    _replace(tmp, path)


def next_counter(path, floor=0):
    """Reserve and return the next session counter (1, 2, ...), persisted before it is returned.

    A power cut after this call at worst skips a number, never reuses one. If the counter file is
    lost or corrupt the count restarts above `floor`: pass the highest counter the transparency
    log holds (TransparencyLog.max_counter()) so receivers never see a counter go backwards.
    """
    state = load(path) or {}
    last = state.get("counter", 0)
    if not isinstance(last, int):
        last = 0
    n = max(last, floor) + 1
    save(path, {"counter": n})
    return n
