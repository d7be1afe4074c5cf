"""The virtual ESP32-S3 ROM loader: exact bytes for the protocol, real esptool end to end."""

import hashlib
import os
import struct
import subprocess
import sys
import zlib

import pytest

from host_tools.sim.romloader import MB, RomLoader, slip_encode
from host_tools.sim.romloader_pty import VirtualRomBoard

ESPTOOL = [sys.executable, "-m", "esptool", "--chip", "esp32s3", "--before", "no-reset"]
SYNC_BODY = b"\x07\x07\x12\x20" + b"\x55" * 32
MAC = bytes.fromhex("240ac45ea701")


def request(op, body=b"", chk=0):
    return slip_encode(struct.pack("<BBHI", 0, op, len(body), chk) + body)


def checksum(data):
    c = 0xEF
    for b in data:
        c ^= b
    return c


@pytest.fixture
def loader(tmp_path):
    rom = RomLoader(tmp_path / "flash.bin", flash_size=4 * MB, mac=MAC)
    yield rom
    rom.close()


def test_sync_is_answered_eight_times_like_the_rom(loader):
    one = bytes.fromhex("c0 01 08 0400 07071220 00000000 c0".replace(" ", ""))
    assert loader.feed(request(0x08, SYNC_BODY)) == one * 8


def test_garbage_before_a_frame_is_ignored(loader):
    assert loader.feed(b"\x00\xffnoise" + request(0x08, SYNC_BODY))[:14].startswith(b"\xc0\x01\x08")


def test_unknown_command_gets_rom_invalid_message_status(loader):
    assert loader.feed(request(0x55)) == bytes.fromhex("c0 01 55 0400 00000000 01050000 c0".replace(" ", ""))
    # stub-only commands are unknown to the ROM too
    assert loader.feed(request(0xD0)) == bytes.fromhex("c0 01 d0 0400 00000000 01050000 c0".replace(" ", ""))


def test_bad_checksum_gets_rom_crc_error(loader):
    loader.feed(request(0x02, struct.pack("<5I", 0x1000, 1, 0x400, 0, 0)))
    data = b"\x12" * 0x400
    reply = loader.feed(request(0x03, struct.pack("<4I", len(data), 0, 0, 0) + data, checksum(data) ^ 1))
    assert reply == bytes.fromhex("c0 01 03 0400 00000000 01070000 c0".replace(" ", ""))
    assert loader.flash[:4] == b"\xff" * 4


def test_write_past_flash_size_is_refused(loader):
    reply = loader.feed(request(0x02, struct.pack("<5I", 0x2000, 2, 0x400, 4 * MB - 0x1000, 0)))
    assert reply == bytes.fromhex("c0 01 02 0400 00000000 01060000 c0".replace(" ", ""))


def test_flash_size_from_spi_set_params_limits_writes(loader):
    loader.feed(request(0x0B, struct.pack("<6I", 0, 2 * MB, 0x10000, 0x1000, 0x100, 0xFFFF)))
    reply = loader.feed(request(0x02, struct.pack("<5I", 0x1000, 1, 0x400, 2 * MB, 0)))
    assert reply.endswith(b"\x01\x06\x00\x00\xc0")


def test_read_reg_returns_mac_efuse_words(loader):
    assert loader.feed(request(0x0A, struct.pack("<I", 0x60007044))) == slip_encode(
        bytes.fromhex("010a0400") + struct.pack("<I", 0xC45EA701) + b"\0" * 4)
    reply = loader.feed(request(0x0A, struct.pack("<I", 0x60007048)))
    assert struct.unpack("<I", reply[5:9])[0] == 0x240A


def test_security_info_reports_esp32s3(loader):
    reply = loader.feed(request(0x14))
    fields = struct.unpack("<IB7BII", reply[9:29])
    assert fields[-2] == 9 and reply[29:33] == b"\0\0\0\0"


def test_flash_id_through_spi_user_command_registers(loader):
    def write(addr, value):
        return request(0x09, struct.pack("<4I", addr, value, 0xFFFFFFFF, 0))

    loader.feed(write(0x60002020, 7 << 28 | 0x9F) + write(0x60002000, 1 << 18))
    assert loader.regs[0x60002000] & (1 << 18) == 0
    assert loader.regs[0x60002058] == 0x1640C8  # GigaDevice, 4 MB


def test_compressed_write_lands_in_the_flash_image(loader):
    data = os.urandom(3000)
    packed = zlib.compress(data)
    loader.feed(request(0x10, struct.pack("<5I", 0x1000, 1, 0x400, 0x3000, 0)))
    body = struct.pack("<4I", len(packed), 0, 0, 0) + packed
    assert loader.feed(request(0x11, body, checksum(packed))).endswith(b"\x00\x00\x00\x00\xc0")
    assert loader.flash[0x3000:0x3000 + 3000] == data


def test_corrupt_deflate_stream_gets_deflate_error(loader):
    loader.feed(request(0x10, struct.pack("<5I", 0x1000, 1, 0x400, 0, 0)))
    junk = b"\xff\xfe\xfd\xfc" * 4
    reply = loader.feed(request(0x11, struct.pack("<4I", len(junk), 0, 0, 0) + junk, checksum(junk)))
    assert reply.endswith(b"\x01\x0b\x00\x00\xc0")


def test_md5_is_hex_from_rom_and_raw_from_stub(loader):
    reply = loader.feed(request(0x13, struct.pack("<4I", 0, 0x1000, 0, 0)))
    assert reply[9:41] == hashlib.md5(b"\xff" * 0x1000).hexdigest().encode()
    loader.feed(request(0x05, struct.pack("<4I", 4, 1, 4, 0x40380000)))
    loader.feed(request(0x07, struct.pack("<4I", 4, 0, 0, 0) + b"abcd", checksum(b"abcd")))
    assert loader.feed(request(0x06, struct.pack("<II", 0, 0x40380000))).endswith(slip_encode(b"OHAI"))
    reply = loader.feed(request(0x13, struct.pack("<4I", 0, 0x1000, 0, 0)))
    body = hashlib.md5(b"\xff" * 0x1000).digest() + b"\0\0"  # 16 raw bytes, 2 status bytes
    assert reply == slip_encode(struct.pack("<BBHI", 1, 0x13, len(body), 0) + body)
    assert loader.feed(request(0x55)).endswith(b"\x01\xff\xc0")  # stub: "not implemented"


def test_watchdog_fires_when_the_line_goes_idle(loader):
    arm = request(0x09, struct.pack("<4I", 0x600080B0, 0x50D83AA1, 0xFFFFFFFF, 0))
    arm += request(0x09, struct.pack("<4I", 0x60008098, 1 << 31 | 5 << 28 | 1 << 8 | 2, 0xFFFFFFFF, 0))
    arm += request(0x09, struct.pack("<4I", 0x600080B0, 0, 0xFFFFFFFF, 0))
    assert loader.feed(arm).count(b"\xc0\x01\x09") == 3
    assert loader.pending_reset is None
    loader.idle()
    assert loader.pending_reset == "watchdog"


# -- the real esptool against the virtual ROM -------------------------------------------------


def esptool(board, *args, after="no-reset"):
    cmd = ESPTOOL + ["--port", board.port, "--after", after, *args]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    board.enter_download_mode()
    return r


@pytest.fixture
def board(tmp_path):
    with VirtualRomBoard(tmp_path / "flash.bin", flash_size=8 * MB) as b:
        yield b


def test_esptool_reads_chip_flash_id_and_mac(board):
    r = esptool(board, "--no-stub", "flash-id")
    assert r.returncode == 0, r.stderr
    assert "ESP32-S3" in r.stdout and "Detected flash size: 8MB" in r.stdout
    r = esptool(board, "read-mac")
    assert r.returncode == 0 and "24:0a:c4:5e:a7:01" in r.stdout
    r = esptool(board, "chip-id")
    assert r.returncode == 0 and "24:0a:c4:5e:a7:01" in r.stdout


@pytest.mark.parametrize("stub", [["--no-stub"], []], ids=["rom", "stub"])
def test_esptool_write_flash_then_verify(board, tmp_path, stub):
    image = os.urandom(70000) + b"\x00" * 30000
    (tmp_path / "app.bin").write_bytes(image)
    r = esptool(board, *stub, "write-flash", "0x10000", str(tmp_path / "app.bin"))
    assert r.returncode == 0, r.stdout + r.stderr
    r = esptool(board, *stub, "verify-flash", "0x10000", str(tmp_path / "app.bin"))
    assert r.returncode == 0 and "Verification successful" in r.stdout
    board.loader.flash.flush()
    flash = (tmp_path / "flash.bin").read_bytes()
    assert flash[0x10000:0x10000 + len(image)] == image
    assert flash[0x10000 + len(image):0x10000 + len(image) + 16] == b"\xff" * 16


def test_esptool_watchdog_reset_runs_the_application(tmp_path):
    resets = []
    with VirtualRomBoard(tmp_path / "flash.bin", on_reset=resets.append) as board:
        r = esptool(board, "--no-stub", "flash-id", after="watchdog-reset")
    assert r.returncode == 0, r.stderr
    assert resets == ["watchdog"]


def test_esptool_read_flash_through_a_non_blocking_pty(board, tmp_path):
    # The virtual board's pty master is non-blocking; a big read must not lose bytes.
    os.set_blocking(board._master, False)
    data = os.urandom(300_000)
    board.loader.flash[0x20000:0x20000 + len(data)] = data
    r = esptool(board, "read-flash", "0x20000", str(len(data)), str(tmp_path / "out.bin"))
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "out.bin").read_bytes() == data
