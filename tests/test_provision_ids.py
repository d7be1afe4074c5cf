"""One device id, one board: `earshot provision` refuses an id this computer's receiver history
already knows from another board (before, the second board's sessions were later refused as
"replayed": its counters start again), and lets a board keep its own id. Run as a user does."""

import subprocess
import sys
from pathlib import Path

from host_tools.records.history import History
from host_tools.records.sessions import SessionInfo

EARSHOT = str(Path(sys.executable).with_name("earshot"))


def earshot(*args):
    return subprocess.run([EARSHOT, *args], capture_output=True, text=True, timeout=60)


def test_a_device_id_another_board_signs_with_is_refused_before_the_board_gets_a_key(
        board, tmp_path):
    history = History(tmp_path / "h.json")
    history.commit([SessionInfo("kitchen", "00" * 8, 7, "alexa", 1, 0, tag="ab" * 32)],
                   "recording x")
    history.save()
    key = tmp_path / "keys" / "kitchen-2.key"
    r = earshot("provision", "--port", board.port, "--device-id", "kitchen", "--key-file",
                str(key), "--history", str(tmp_path / "h.json"))
    assert r.returncode == 1 and len(r.stderr.splitlines()) == 1, r.stderr
    assert "device id kitchen is taken" in r.stderr and "up to counter 7" in r.stderr
    assert not key.exists() and not key.parent.exists()
    st = earshot("status", "--port", board.port, "--json")
    assert '"provisioned": false' in st.stdout

    # Another id is fine; the board then keeps its own id when its key is replaced (that
    # waits for the buttons: here the request is left to lapse, nothing else is checked).
    r = earshot("provision", "--port", board.port, "--device-id", "hall", "--key-file",
                str(tmp_path / "hall.key"), "--history", str(tmp_path / "h.json"))
    assert r.returncode == 0, r.stderr
    history.commit([SessionInfo("hall", "00" * 8, 3, "alexa", 1, 0, tag="cd" * 32)], "x")
    history.save()
    from host_tools.board.provision import _one_board_per_id

    _one_board_per_id({"device_id": "hall"}, "hall", History.load(tmp_path / "h.json"))


def test_a_second_board_given_an_id_this_computer_gave_another_board_is_refused(
        board, firmware_image, tmp_path):
    """No session was ever received: only `earshot provision` has seen the first board. The
    history remembers which chip (machine.unique_id()) took the id, so a second board asking
    for it is refused before it gets a key; the first board may have its key replaced, and
    `earshot record` refuses a board that took the id elsewhere (its sessions, kept under the
    id, would make the real board's look like replays)."""
    from host_tools.hil.fixtures import boot_board

    hist = str(tmp_path / "h.json")
    first = earshot("provision", "--port", board.port, "--device-id", "kitchen",
                    "--key-file", str(tmp_path / "k1.key"), "--history", hist, "--json")
    assert first.returncode == 0, first.stderr
    chip = History.load(hist).chip("kitchen")
    assert chip and len(chip) == 12, chip

    with boot_board(firmware_image, tmp_path / "second") as other:
        other.wait_booted()
        r = earshot("provision", "--port", other.port, "--device-id", "kitchen",
                    "--key-file", str(tmp_path / "k2.key"), "--history", hist)
        assert r.returncode == 1 and len(r.stderr.splitlines()) == 1, r.stderr
        assert "device id kitchen is taken" in r.stderr and chip in r.stderr, r.stderr
        assert not (tmp_path / "k2.key").exists()
        assert '"provisioned": false' in earshot("status", "--port", other.port,
                                                 "--json").stdout

        # That board, given the id by another computer (another history), is then refused by
        # this computer's recorder the moment it greets it, before it receives anything.
        ok = earshot("provision", "--port", other.port, "--device-id", "kitchen",
                     "--key-file", str(tmp_path / "k2.key"), "--history",
                     str(tmp_path / "elsewhere.json"))
        assert ok.returncode == 0, ok.stderr
        rec = earshot("record", "--port", other.port, "--key-file", str(tmp_path / "k2.key"),
                      "--out", str(tmp_path / "rec"), "--seconds", "0.5", "--history", hist)
        assert rec.returncode == 1 and len(rec.stderr.splitlines()) == 1, rec.stderr
        assert "another board (chip %s)" % chip in rec.stderr, rec.stderr
        assert History.load(hist).max_counter("kitchen") is None  # nothing kept under it
        # The page, which receives and remembers sessions once it has the key, refuses it
        # the same way, before it serves anything.
        dash = earshot("dashboard", "--port", other.port, "--history", hist, "--bind",
                       "127.0.0.1:0", "--key-file", str(tmp_path / "k2.key"))
        assert dash.returncode == 1 and len(dash.stderr.splitlines()) == 1, dash.stderr
        assert "another board (chip %s)" % chip in dash.stderr, dash.stderr
