"""`earshot flash` end to end against the virtual ROM loader, and every refusal it owes a user."""

import errno
import os

import pytest
import serial

from host_tools.board import files
from host_tools.cli import main
from host_tools.errors import PortError
from host_tools.flash import reboot
from host_tools.link import serial_port
from host_tools.sim.romloader import MB
from host_tools.sim.romloader_pty import VirtualRomBoard

DEVKIT = "s3-n8r8"  # 8 MB flash, octal PSRAM, offset 0 (like esp32-s3-devkitc-1-inmp441)
BOARDS = {
    "s3-n8r8": {"chip": "esp32s3", "flash_size": "8MB", "psram": "octal",
                "micropython": {"build": "ESP32_GENERIC_S3", "variant": "SPIRAM_OCT", "offset": 0}},
    "s3-n16r8": {"chip": "esp32s3", "flash_size": "16MB", "psram": "octal",
                 "micropython": {"build": "ESP32_GENERIC_S3", "variant": "SPIRAM_OCT", "offset": 0}},
}


@pytest.fixture(autouse=True)
def boards_dir(tmp_path, monkeypatch):
    """Board files of our own, so these tests do not move when boards/ is edited."""
    import json

    d = tmp_path / "boards"
    d.mkdir()
    for name, board in BOARDS.items():
        (d / (name + ".json")).write_text(json.dumps(board))
    monkeypatch.setattr(files, "boards_dir", lambda: d)


def s3_image(size, chip_id=9):
    """Bytes shaped like an ESP-IDF app image: magic 0xE9, extended header with the chip id."""
    header = b"\xe9\x03\x02\x2f" + b"\x00" * 8 + chip_id.to_bytes(2, "little")
    return header + os.urandom(size - len(header))


def flash(board, image_path, *extra, board_id=DEVKIT):
    return main(["flash", "--board", board_id, "--port", board.port, "--micropython",
                 str(image_path), "--before", "no-reset", "--no-deploy", *extra])


def flash_bytes(board, tmp_path):
    board.loader.flash.flush()
    return (tmp_path / "flash.bin").read_bytes()


@pytest.fixture
def board(tmp_path):
    with VirtualRomBoard(tmp_path / "flash.bin", flash_size=8 * MB, psram_mb=8) as b:
        yield b


def test_flash_writes_the_image_verifies_it_and_resets_into_the_app(board, tmp_path, capsys):
    image = s3_image(150_000)
    (tmp_path / "mp.bin").write_bytes(image)
    assert flash(board, tmp_path / "mp.bin") == 0
    flashed = flash_bytes(board, tmp_path)
    assert flashed[:len(image)] == image
    assert flashed[len(image):] == b"\xff" * (8 * MB - len(image))  # the rest was erased
    assert board.resets == ["watchdog"]
    assert "MicroPython written to" in capsys.readouterr().out


def test_wrong_chip_is_refused_before_anything_is_erased(board, tmp_path, capsys):
    board.loader.chip_id = 5  # answers like an ESP32-C3
    (tmp_path / "mp.bin").write_bytes(s3_image(10_000))
    assert flash(board, tmp_path / "mp.bin") == 1
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith("earshot: ") and "ESP32-C3, not an ESP32-S3" in err
    assert flash_bytes(board, tmp_path) == b"\xff" * (8 * MB)


def test_image_larger_than_the_flash_is_refused(board, tmp_path, capsys):
    (tmp_path / "big.bin").write_bytes(s3_image(8 * MB + 4096))
    assert flash(board, tmp_path / "big.bin") == 1
    assert "big.bin is 8392704 bytes but the board's flash is 8 MB" in capsys.readouterr().err
    # with --force the board file is ignored, and the chip's own flash size still refuses it
    assert flash(board, tmp_path / "big.bin", "--force") == 1
    assert "the chip's flash is 8 MB" in capsys.readouterr().err
    assert flash_bytes(board, tmp_path) == b"\xff" * (8 * MB)


def test_board_file_flash_size_must_match_the_chip(board, tmp_path, capsys):
    (tmp_path / "mp.bin").write_bytes(s3_image(10_000))
    assert flash(board, tmp_path / "mp.bin", board_id="s3-n16r8") == 1
    assert "says 16 MB of flash but the chip reports 8 MB" in capsys.readouterr().err


def test_board_needing_psram_refuses_a_chip_without(tmp_path, capsys):
    with VirtualRomBoard(tmp_path / "flash.bin", flash_size=8 * MB, psram_mb=0) as b:
        (tmp_path / "mp.bin").write_bytes(s3_image(10_000))
        assert flash(b, tmp_path / "mp.bin") == 1
    assert "needs octal PSRAM but the chip reports none" in capsys.readouterr().err


def test_image_built_for_another_chip_is_refused(board, tmp_path, capsys):
    (tmp_path / "c3.bin").write_bytes(s3_image(10_000, chip_id=5))
    assert flash(board, tmp_path / "c3.bin") == 1
    assert "c3.bin is a build for ESP32-C3, not ESP32-S3" in capsys.readouterr().err


def test_unplugged_mid_flash_fails_and_leaves_no_bootable_half_image(board, tmp_path, capsys,
                                                                     monkeypatch):
    import esptool.cmds

    monkeypatch.setattr(esptool.cmds, "DEFAULT_CONNECT_ATTEMPTS", 1)  # esptool waits 1 s/attempt
    (tmp_path / "mp.bin").write_bytes(s3_image(200_000))
    feed, blocks = board.loader.feed, []

    def feed_then_pull_the_cable(data):
        reply = feed(data)
        blocks.extend(op for op in board.loader.commands[len(blocks):] if op in (0x03, 0x11))
        if len(blocks) >= 3:
            board.unplug()
        return reply

    board.loader.feed = feed_then_pull_the_cable
    assert flash(board, tmp_path / "mp.bin", "--baud", "115200") == 1
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert "went away while flashing" in err and "run earshot flash again" in err
    assert flash_bytes(board, tmp_path)[:4096] == b"\xff" * 4096  # boot header never written


def test_busy_port_is_one_line_error(board, tmp_path, capsys):
    (tmp_path / "mp.bin").write_bytes(s3_image(10_000))
    with serial.Serial(board.port, exclusive=True):
        assert flash(board, tmp_path / "mp.bin") == 1
    assert "is busy: another program" in capsys.readouterr().err


def test_permission_denied_names_the_group_to_join(monkeypatch, tmp_path):
    def denied(*a, **k):
        raise serial.SerialException(errno.EACCES, "could not open port: Permission denied")

    monkeypatch.setattr(serial, "serial_for_url", denied)
    monkeypatch.setattr(serial_port, "_port_group", lambda port: "uucp")
    with pytest.raises(PortError, match=r"join the 'uucp' group \(sudo usermod -aG uucp"):
        serial_port.open_port("/dev/ttyACM0")


def test_missing_port_and_missing_board_file_say_what_to_do(tmp_path, capsys):
    (tmp_path / "mp.bin").write_bytes(s3_image(10_000))
    assert main(["flash", "--board", DEVKIT, "--port", str(tmp_path / "ttyNONE"),
                 "--micropython", str(tmp_path / "mp.bin"), "--no-deploy"]) == 1
    assert "earshot ports" in capsys.readouterr().err
    assert main(["flash", "--board", "nope", "--port", "x", "--micropython", "y"]) == 1
    assert "unknown board 'nope': use one of" in capsys.readouterr().err


def test_board_stuck_in_download_mode_after_flashing_is_named(tmp_path, capsys):
    (tmp_path / "mp.bin").write_bytes(s3_image(10_000))
    # BOOT held down: every reset lands in the ROM bootloader again.
    with VirtualRomBoard(tmp_path / "flash.bin", psram_mb=8,
                         on_reset=lambda reason: b.enter_download_mode()) as b:
        assert main(["flash", "--board", DEVKIT, "--port", b.port, "--micropython",
                     str(tmp_path / "mp.bin"), "--before", "no-reset", "--wait", "1"]) == 1
    assert "still in download mode after flashing: release BOOT" in capsys.readouterr().err


def test_step_two_deploys_provisions_and_reads_the_version(board, tmp_path, monkeypatch, capsys):
    from host_tools.board import deploy, provision
    from host_tools.link import client

    (tmp_path / "mp.bin").write_bytes(s3_image(10_000))
    calls = []
    monkeypatch.setattr(reboot, "wait_for_board", lambda port, serial_number, timeout: port)
    monkeypatch.setattr(deploy, "deploy", lambda port, board_id, **kw: calls.append(
        ("deploy", board_id)))
    monkeypatch.setattr(provision, "provision", lambda port: calls.append(("provision",)) or (
        "dev", "keys/dev.key", None))
    monkeypatch.setattr(client, "probe", lambda port, timeout: {"version": "0.3.0"})
    args = ["flash", "--board", DEVKIT, "--port", board.port, "--micropython",
            str(tmp_path / "mp.bin"), "--before", "no-reset"]
    assert main(args) == 0
    assert calls == [("deploy", DEVKIT), ("provision",)]
    assert "runs Earshot 0.3.0" in capsys.readouterr().out


def test_board_not_in_download_mode_says_how_to_get_it_there(tmp_path, capsys):
    import tty

    master, slave = os.openpty()  # a port where nothing answers the bootloader's SYNC
    tty.setraw(slave)
    try:
        (tmp_path / "mp.bin").write_bytes(s3_image(10_000))
        assert main(["flash", "--board", DEVKIT, "--port", os.ttyname(slave), "--micropython",
                     str(tmp_path / "mp.bin"), "--before", "no-reset", "--no-deploy"]) == 1
    finally:
        os.close(master)
        os.close(slave)
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert "no ESP32 bootloader answers" in err and "hold BOOT, press RESET" in err
