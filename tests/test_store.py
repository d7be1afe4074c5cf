"""State files (firmware/earshot/store.py, in MicroPython): a torn, corrupt or missing file reads
as None so the caller falls back to the most private defaults (privacy contract points 3, 8)."""

import hashlib
import json

from tests.mpy import run_mpy


def decode_state(data):
    """Independent CPython reading of the store format (docs/sessions.md)."""
    if len(data) < 22 or data[:4] != b"ES1 " or data[20:21] != b" " or data[-1:] != b"\n":
        return None
    payload = data[21:-1]
    if hashlib.sha256(payload).digest()[:8].hex().encode() != data[4:20]:
        return None
    try:
        state = json.loads(payload)
    except ValueError:
        return None
    return state if isinstance(state, dict) else None


def test_saved_state_round_trips_and_cpython_reads_the_same_bytes(tmp_path):
    p = str(tmp_path / "consent.json")
    out = run_mpy(
        "from earshot import store\n"
        "store.save(%r, {'flags': 5, 'guest': False, 'name': 'h\\u00e9'})\n"
        "print(store.load(%r) == {'flags': 5, 'guest': False, 'name': 'h\\u00e9'})\n" % (p, p)
    )
    assert out.strip() == "True"
    assert decode_state((tmp_path / "consent.json").read_bytes())["flags"] == 5
    assert not (tmp_path / "consent.json.tmp").exists()


def test_missing_torn_corrupt_or_foreign_files_read_as_none(tmp_path):
    p = str(tmp_path / "s.json")
    out = run_mpy(
        "from earshot import store\n"
        "p = %r\n"
        "print(store.load(p))\n"
        "good = store.encode({'flags': 31, 'guest': True})\n"
        "bad = 0\n"
        "for n in range(len(good)):\n"  # every torn prefix
        "    with open(p, 'wb') as f: f.write(good[:n])\n"
        "    bad += store.load(p) is not None\n"
        "for i in range(len(good)):\n"  # every single flipped byte
        "    b = bytearray(good); b[i] ^= 0x04\n"
        "    with open(p, 'wb') as f: f.write(b)\n"
        "    bad += store.load(p) is not None\n"
        "print(bad)\n"
        "for junk in (b'', b'\\xff' * 40, store.encode({'a': 1})[:-1] + b'x'):\n"
        "    with open(p, 'wb') as f: f.write(junk)\n"
        "    print(store.load(p))\n"
        "print(store.decode(b'ES1 ' + store.encode({})[4:21] + b'[]\\n'))\n" % p
    )
    assert out.split("\n")[:6] == ["None", "0", "None", "None", "None", "None"]


def test_a_complete_tmp_is_used_only_when_the_file_is_missing(tmp_path):
    p = str(tmp_path / "s.json")
    out = run_mpy(
        "import os\n"
        "from earshot import store\n"
        "p = %r\n"
        "with open(p + '.tmp', 'wb') as f: f.write(store.encode({'v': 2}))\n"
        "print(store.load(p))\n"  # a cut between remove and rename (FAT path): new state
        "store.save(p, {'v': 3})\n"
        "with open(p + '.tmp', 'wb') as f: f.write(store.encode({'v': 4})[:-3])\n"
        "print(store.load(p))\n"  # a torn tmp never wins over the file
        "os.remove(p)\n"
        "print(store.load(p))\n" % p
    )
    assert out.split() == ["{'v':", "2}", "{'v':", "3}", "None"]


def test_session_counter_is_persisted_before_use_and_never_goes_back(tmp_path):
    p = str(tmp_path / "counter.json")
    out = run_mpy(
        "from earshot import store\n"
        "p = %r\n"
        "a = [store.next_counter(p) for _ in range(3)]\n"
        "print(a, store.load(p))\n"
        "with open(p, 'wb') as f: f.write(b'ES1 garbage')\n"  # lost counter file
        "print(store.next_counter(p, floor=41), store.next_counter(p, floor=10))\n" % p
    )
    assert out.splitlines() == ["[1, 2, 3] {'counter': 3}", "42 43"]


def test_a_stored_identity_that_does_not_check_out_boots_as_not_provisioned(board):
    # Written by older firmware, or by hand: a valid store record whose identity the firmware
    # refuses must not stop the board from booting into the protocol.
    from host_tools.hil.fixtures import KEY, connect

    board.power_cut()
    payload = json.dumps({"device_id": "x" * 65, "key": KEY.hex()}).encode()
    record = b"ES1 " + hashlib.sha256(payload).hexdigest()[:16].encode() + b" " + payload + b"\n"
    (board.flash_dir / "data").mkdir(exist_ok=True)
    (board.flash_dir / "data" / "identity.json").write_bytes(record)
    board.power_on()
    board.wait_booted()
    c = connect(board.port)
    assert c.command("status")["provisioned"] is False
    c.close()
