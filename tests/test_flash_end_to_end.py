"""`earshot flash` end to end on a virtual board: ROM bootloader, image, app, deploy, version."""

import os

from host_tools.cli import main
from host_tools.sim import VirtualBoard


def s3_image(size):
    header = b"\xe9\x03\x02\x2f" + bytes(8) + (9).to_bytes(2, "little")  # chip id 9: ESP32-S3
    return header + os.urandom(size - len(header))


def test_flash_writes_the_image_then_the_board_runs_earshot(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)  # earshot provision keeps its key file under keys/
    image = s3_image(300_000)
    (tmp_path / "fw.bin").write_bytes(image)
    with VirtualBoard(flash_dir=tmp_path / "flash", download_mode=True) as board:
        code = main(["flash", "--board", "virtual", "--port", board.port, "--micropython",
                     str(tmp_path / "fw.bin"), "--before", "no-reset", "--baud", "0"])
        out = capsys.readouterr()
        assert code == 0, out.err
        flash = board.flash_image.read_bytes()
        assert flash[: len(image)] == image  # written and verified by esptool's MD5
        assert board.resets == ["watchdog"]  # left the bootloader into the application
        assert "runs Earshot 0.1.0" in out.out
        keys = list((tmp_path / "keys").glob("*.key"))
        assert len(keys) == 1 and len(bytes.fromhex(keys[0].read_text().strip())) == 32


def test_machine_bootloader_puts_the_virtual_board_in_download_mode(tmp_path):
    import subprocess
    import sys

    with VirtualBoard(flash_dir=tmp_path / "flash") as board:
        board.wait_booted()
        subprocess.run([sys.executable, "-m", "mpremote", "connect", board.port, "bootloader"],
                       capture_output=True, timeout=30)
        r = subprocess.run([sys.executable, "-m", "esptool", "--chip", "esp32s3", "--port",
                            board.port, "--before", "no-reset", "--after", "watchdog-reset",
                            "chip-id"], capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, r.stdout + r.stderr
        assert "ESP32-S3" in r.stdout
        board.wait_booted()  # back in MicroPython after the watchdog reset
