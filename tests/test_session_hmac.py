"""HMAC-SHA256 on the board (hashlib.sha256 only) equals RFC 4231 and CPython's hmac."""

import hashlib
import hmac
import json
import random

from tests.mpy import run_mpy

# RFC 4231 section 4: (key, data, HMAC-SHA-256); test case 5 is truncated to 128 bits.
RFC4231 = [
    (b"\x0b" * 20, b"Hi There",
     "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"),
    (b"Jefe", b"what do ya want for nothing?",
     "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"),
    (b"\xaa" * 20, b"\xdd" * 50,
     "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe"),
    (bytes(range(1, 26)), b"\xcd" * 50,
     "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b"),
    (b"\x0c" * 20, b"Test With Truncation", "a3b6167473100ee06e0c796c2955552b"),
    (b"\xaa" * 131, b"Test Using Larger Than Block-Size Key - Hash Key First",
     "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"),
    (b"\xaa" * 131, b"This is a test using a larger than block-size key and a larger than "
     b"block-size data. The key needs to be hashed before being used by the HMAC algorithm.",
     "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2"),
]


def _board_macs(pairs):
    """HMAC of each (key, msg) computed by firmware/earshot/hmac256.py in MicroPython."""
    code = (
        "import json, binascii\n"
        "from earshot.hmac256 import HMAC256\n"
        "pairs = json.loads(%r)\n"
        "out = []\n"
        "for k, m in pairs:\n"
        "    k = binascii.unhexlify(k); m = binascii.unhexlify(m)\n"
        "    a = HMAC256(k).mac(m)\n"
        "    h = len(m) // 2\n"
        "    b = HMAC256(k).mac(m[:h], memoryview(m)[h:])\n"
        "    assert a == b\n"
        "    out.append(binascii.hexlify(a).decode())\n"
        "print(json.dumps(out))\n"
    ) % json.dumps([[k.hex(), m.hex()] for k, m in pairs])
    return json.loads(run_mpy(code))


def test_board_hmac_matches_rfc4231_vectors():
    macs = _board_macs([(k, m) for k, m, _ in RFC4231])
    for (k, m, expected), got in zip(RFC4231, macs):
        assert got[: len(expected)] == expected
        assert hmac.new(k, m, hashlib.sha256).hexdigest()[: len(expected)] == expected


def test_board_hmac_matches_cpython_hmac_on_random_keys_and_messages():
    rng = random.Random(4231)
    pairs = []
    for _ in range(60):
        klen = rng.choice([0, 1, 16, 31, 32, 33, 63, 64, 65, 100, 200])
        mlen = rng.choice([0, 1, 55, 56, 63, 64, 65, 640, 1000])
        pairs.append((rng.randbytes(klen), rng.randbytes(mlen)))
    macs = _board_macs(pairs)
    for (k, m), got in zip(pairs, macs):
        assert got == hmac.new(k, m, hashlib.sha256).hexdigest()
