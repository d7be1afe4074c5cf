"""A repair of the transparency log loses nothing silently (privacy contract point 9): after an
entry in the middle was edited and the board restarted, every other entry is still there, the
edited one is kept aside on the board, and the board, `earshot status`, `earshot log` and the
page warn until someone at the board holds the mute button. A host cannot clear the warning.

Run as a user does: the installed `earshot` against a virtual board."""

import json
import subprocess
import sys

from host_tools.cli.pins import classify, watch
from host_tools.records.translog import read_log
from tests.household import Earshot, provisioned_board, wait_event
from tests.test_store import decode_state


def earshot(*args, timeout=60):
    return subprocess.run([sys.executable, "-m", "host_tools.cli", *args], capture_output=True,
                          text=True, timeout=timeout)


def _status(board):
    r = earshot("status", "--port", board.port, "--json")
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def _light(board):
    """The status LED's pattern, watched in board time as `earshot pins` does."""
    def ask():
        return {"sim_time_s": board.time_s, "powered": True,
                "pins": {"status_led": list(board.pins()["status_led"])}}

    _, samples = watch(ask, lambda since: [list(e) for e in board.edges(since)])
    return classify(samples)


def test_a_tampered_entry_is_set_aside_and_warned_about_until_acknowledged_at_the_board(
        firmware_image, tmp_path):
    board = provisioned_board(firmware_image, tmp_path / "b")
    try:
        for _ in range(8):
            board.press("mute")  # mute entries to edit and to keep
        board.power_cut()
        log = board.flash_dir / "data" / "log.txt"
        before = read_log(log)
        assert before.ok and len(before.entries) >= 10
        lines = log.read_bytes().split(b"\n")
        middle = len(lines) // 2
        edited = lines[middle].replace(b'"muted": true', b'"muted": false')
        if edited == lines[middle]:
            edited = lines[middle].replace(b'"muted": false', b'"muted": true')
        assert edited != lines[middle]
        seq = json.loads(edited[65:])["seq"]
        lines[middle] = edited
        log.write_bytes(b"\n".join(lines))
        board.power_on()
        board.wait_booted()

        repair = _status(board)["log"]["repair"]  # answered: the board has started
        assert repair["pending"] and repair["lines"] == 1
        # The board itself warns: its status LED flickers in the preset's colour.
        assert _light(board) == ((0, 255, 0), "flickering")
        after = read_log(log)
        assert after.ok, after.error
        kept = {e.seq: e.hash for e in after.entries}
        lost = [e.seq for e in before.entries if kept.get(e.seq) != e.hash]
        assert lost == [seq]  # only the edited entry: nothing else was dropped
        q = decode_state((board.flash_dir / "data" / "log.txt.quarantine").read_bytes())
        assert bytes.fromhex(q["items"][0]["data"]) == edited + b"\n"

        r = earshot("status", "--port", board.port)
        assert "LOG       WARNING: the board repaired its log" in r.stdout, r.stdout
        assert "LED       green, flickering: " in r.stdout, r.stdout
        r = earshot("log", "--port", board.port, "--history", str(tmp_path / "h.json"))
        assert r.returncode == 0, r.stderr
        assert "entry #%d was set aside" % seq in r.stdout
        assert "WARNING: the board repaired its log" in r.stdout

        proc = Earshot("dashboard", "--port", board.port, "--bind", "127.0.0.1:0",
                       env={"EARSHOT_STATE_DIR": str(tmp_path / "state")})
        try:
            url = proc.wait_line(r"dashboard: (http://\S+)").group(1)
            shown = wait_event(url, lambda k, d: k == "log" and d["log"]["state"] == "verified",
                               "the log read")
            assert "set aside on the board" in shown["log"]["repair_warning"]
            assert shown["log"]["set_aside"] == [[seq, seq]]
        finally:
            assert proc.stop() == 0, proc.output

        # A restart does not clear it; a short press of mute is still mute, not the answer.
        board.power_cut()
        board.power_on()
        board.wait_booted()
        board.press("mute")
        assert _status(board)["log"]["repair"]["pending"]

        board.press("mute", seconds=2.0)  # held: the household saw it
        status = _status(board)
        assert status["log"]["repair"]["pending"] is False
        assert status["log"]["repair"]["kept_bytes"] == len(edited) + 1  # still kept aside
        assert "WARNING" not in earshot("status", "--port", board.port).stdout
        assert _light(board) == ((0, 255, 0), "steady")
        assert read_log(log).entries[-1].kind == "repair_ack"
    finally:
        board.close()
