"""Compacting a full transparency log does not cost the listening board its audio.

The log is bounded (256 entries); when it overflows the oldest eighth is dropped by rewriting
the rest (~65 KB) with its chain anchor. On SPI NOR under LittleFS that is ~16 block erases
(host_tools/sim/flash_cost.py: ~0.9 s typical, 6 s worst case), while the I2S DMA buffer holds
256 ms. The rewrite goes a few lines per frame instead (translog.TransparencyLog.compact_step).
"""

import shutil

from host_tools.hil.fixtures import connect, wait_for
from host_tools.records.translog import verify_log
from tests.mpy import run_mpy

FULL = 256


def fill_log(flash, entries=FULL):
    data = flash / "data"
    data.mkdir(exist_ok=True)
    run_mpy("""
from earshot.translog import TransparencyLog
log = TransparencyLog(%r, 256)
for i in range(%d):
    log.append("consent", {"old": 0, "new": 1, "source": "button", "preset": "assistant",
                           "guest": False, "note": "x" * 160}, i * 1000)
""" % (str(data / "log.txt"), entries))


def test_a_compaction_while_listening_loses_no_audio_and_keeps_the_chain(firmware_image,
                                                                          tmp_path):
    from host_tools.hil.fixtures import boot_board

    flash = tmp_path / "flash"
    shutil.copytree(firmware_image, flash)
    fill_log(flash, FULL - 1)  # the unmute below adds the 256th, the next change overflows
    with boot_board(firmware_image, tmp_path) as board:
        board.wait_booted()
        c = connect(board.port)
        board.press("mute")
        wait_for(lambda: c.command("status")["muted"] is False)
        lost = board.world.lost_samples
        longest = board.world.flash.longest_us
        board.press("action", seconds=1.7)  # a consent change: one more entry, compaction
        board.advance(3.0)
        status = c.command("status")
        assert status["consent"]["preset"] == "assistant"
        assert status["log"]["entries"] <= FULL - FULL // 8 + 8
        data, reply = c.read_log()
        result = verify_log(data)
        assert result.ok, result.error
        assert result.anchor is not None and result.anchor[0] >= FULL // 8 - 1
        assert board.world.lost_samples == lost, "%d ms of audio lost compacting the log" % (
            (board.world.lost_samples - lost) // 16)
        assert board.world.flash.longest_us <= max(longest, 150_000)
        c.close()
