# HMAC-SHA256 (RFC 2104) on top of hashlib.sha256.
#
# MicroPython's Unix and ESP32 ports have no `hmac` module, and their sha256 objects have no
# copy(), so the padded key blocks are computed once per key and each MAC runs two fresh hashes:
#   HMAC(K, m) = H((K0 ^ opad) | H((K0 ^ ipad) | m))
# where K0 is the key zero-padded to the 64-byte block (keys longer than a block are hashed first).
# Checked against RFC 4231 and CPython's hmac in tests/test_session_hmac.py.

import hashlib

from micropython import const

_BLOCK = const(64)
DIGEST_SIZE = const(32)


class HMAC256:
    """A key, prepared once; mac(*parts) authenticates the concatenation of the parts."""

    def __init__(self, key):
        if len(key) > _BLOCK:
            key = hashlib.sha256(key).digest()
        ipad = bytearray(_BLOCK)
        opad = bytearray(_BLOCK)
        for i in range(_BLOCK):
            k = key[i] if i < len(key) else 0
            ipad[i] = k ^ 0x36
            opad[i] = k ^ 0x5C
        self._ipad = bytes(ipad)
        self._opad = bytes(opad)

    def mac(self, *parts):
        """32-byte tag over parts[0] | parts[1] | ... (bytes, bytearray or memoryview)."""
        h = hashlib.sha256(self._ipad)
        for p in parts:
            h.update(p)
        inner = h.digest()
        h = hashlib.sha256(self._opad)
        h.update(inner)
        return h.digest()

