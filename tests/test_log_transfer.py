"""`earshot log` of a long transparency log: the board keeps listening and its watchdog fed.

The whole log (~75 KB at 234 entries) cannot go out in one go: on upstream's serial path that
holds the loop for seconds (host_tools/sim/serial_line.py). The virtual board charges serial
writes in board time and its watchdog bites at 5 s of board time; the microphone's DMA buffer
drops audio when the loop is late.
"""

import json
import subprocess
import sys

from host_tools.hil.fixtures import boot_board, connect, wait_for
from tests.mpy import run_mpy

ENTRIES = 234


def write_long_log(flash):
    """A valid, hash-chained log of ENTRIES entries, as the firmware itself writes them."""
    data = flash / "data"
    data.mkdir(exist_ok=True)
    run_mpy("""
from earshot.translog import TransparencyLog
log = TransparencyLog(%r, 256)
for i in range(%d):
    log.append("consent", {"old": 0, "new": 1, "source": "button", "preset": "assistant",
                           "guest": False, "note": "x" * 160}, i * 1000)
print(len(log))
""" % (str(data / "log.txt"), ENTRIES))
    return (data / "log.txt").stat().st_size


def test_a_long_log_is_read_while_the_board_keeps_listening(firmware_image, tmp_path):
    import shutil

    flash = tmp_path / "flash"
    shutil.copytree(firmware_image, flash)
    size = write_long_log(flash)
    assert size > 70_000
    with boot_board(firmware_image, tmp_path) as board:
        board.wait_booted()
        c = connect(board.port)
        board.press("mute")  # listening: the microphone is on while the log goes out
        wait_for(lambda: c.command("status")["muted"] is False)
        c.close()
        boots, lost = board.boots, board.world.lost_samples
        r = subprocess.run([sys.executable, "-m", "host_tools.cli", "log", "--port", board.port,
                            "--json"], capture_output=True, text=True, timeout=120)
        assert r.returncode == 0, r.stdout + r.stderr
        shown = json.loads(r.stdout)
        assert shown["ok"] and len(shown["entries"]) >= ENTRIES
        assert board.watchdog_resets == 0 and board.boots == boots, "the board was reset"
        assert board.world.lost_samples == lost, "%d ms of audio lost during the transfer" % (
            (board.world.lost_samples - lost) // 16)
        assert board.world.serial.longest_us < 100_000  # no write held the loop 0.1 s
