"""A virtual ESP32-S3 serial bootloader: answers esptool byte for byte like the chip's ROM.

`RomLoader.feed(bytes) -> bytes` is the whole chip: SLIP frames in, SLIP frames out, no
threads and no clock, so tests can check exact bytes. `host_tools.sim.romloader_pty` serves it on
a pseudo-terminal. Sources for every reply: esptool's `loader.py` / `targets/esp32s3.py`
(what the host sends and parses) and Espressif's serial-protocol documentation (ROM status
bytes and error codes).

What a real ESP32-S3 ROM does and this class does too:
  - SYNC is answered 8 times with value 0x20120707 (the ROM's habit; esptool reads all 8).
  - ROM replies end in 4 status bytes (status, error, 2 reserved); errors are
    0x05 malformed/unknown command, 0x06 could not act (e.g. past the flash size),
    0x07 bad checksum, 0x0B inflate error.
  - Flash is NOR: FLASH_BEGIN erases whole 4 KB sectors to 0xFF, writes can only clear bits.
  - Code uploaded with MEM_BEGIN/DATA/END is never executed. Jumping to it is taken as
    starting esptool's flasher stub, whose protocol this class then speaks (greets "OHAI",
    2 status bytes, ERASE_FLASH/ERASE_REGION/READ_FLASH, raw MD5). So esptool works with or
    without `--no-stub`.
  - Leaving the bootloader (FLASH_END "run user code"/reboot, RUN_USER_CODE, or the RTC
    watchdog that `esptool --after watchdog-reset` arms) sets `pending_reset` to a reason;
    whoever serves the port then calls `on_reset(reason)` after the reply is sent.
"""

import hashlib
import mmap
import os
import struct
import zlib

from ..flash.rom_protocol import (  # noqa: F401 (MB, SECTOR and slip_encode are re-exported)
    BAD_CHECKSUM, BAD_LENGTH, CHANGE_BAUDRATE, CHIP_ID, ERASE_FLASH, ERASE_REGION, FLASH_BEGIN,
    FLASH_DATA, FLASH_DEFL_BEGIN, FLASH_DEFL_DATA, FLASH_DEFL_END, FLASH_END, GET_SECURITY_INFO,
    INFLATE_ERROR, MB, MEM_BEGIN, MEM_DATA, MEM_END, NOT_IN_FLASH_MODE, PAST_FLASH_END,
    READ_FLASH, READ_FLASH_SLOW, READ_REG, RUN_USER_CODE, SECTOR, SPI_ATTACH, SPI_FLASH_MD5,
    SPI_SET_PARAMS, SYNC, SYNC_BODY, SYNC_VALUE, UNKNOWN_COMMAND, WRITE_REG, Refused, SlipDecoder,
    slip_encode)

# ESP32-S3 registers esptool reads or writes (addresses from esptool targets/esp32s3.py)
SPI_BASE = 0x60002000
SPI_CMD, SPI_ADDR = SPI_BASE + 0x00, SPI_BASE + 0x04
SPI_USR2, SPI_MISO_DLEN, SPI_W0 = SPI_BASE + 0x20, SPI_BASE + 0x28, SPI_BASE + 0x58
SPI_CMD_USR = 1 << 18
EFUSE_BLOCK1 = 0x60007044  # words 0-1 are the MAC, 3-5 package/revision/flash/PSRAM
EFUSE_BLOCK2 = 0x6000705C
RTC_WDTCONFIG0, RTC_WDTWPROTECT, RTC_WDT_WKEY = 0x60008098, 0x600080B0, 0x50D83AA1

# JEDEC capacity byte by flash size; esptool's DETECTED_FLASH_SIZES maps it back.
JEDEC_CAPACITY = {2 * MB: 0x15, 4 * MB: 0x16, 8 * MB: 0x17, 16 * MB: 0x18, 32 * MB: 0x19}
# eFuse PSRAM capacity code (esptool ESP32S3ROM.get_psram_cap) by in-package PSRAM size.
PSRAM_CAP = {0: 0, 8: 1, 2: 2, 16: 3, 4: 4}


class RomLoader:
    """One ESP32-S3 in its serial bootloader, with `flash_size` bytes of flash in a file."""

    def __init__(self, flash_image_path, flash_size=8 * MB, mac=b"\x24\x0a\xc4\x5e\xa7\x01",
                 on_reset=None, psram_mb=0, flash_vendor=0xC8):
        if isinstance(mac, str):  # "02:e5:00:00:00:01", as the virtual board spells it
            mac = bytes.fromhex(mac.replace(":", ""))
        if flash_size not in JEDEC_CAPACITY or psram_mb not in PSRAM_CAP or len(mac) != 6:
            raise ValueError("unsupported flash size, PSRAM size or MAC")
        self.flash_size, self.mac, self.on_reset = flash_size, bytes(mac), on_reset
        self.chip_id = CHIP_ID  # tests set another id to play a different chip
        self.flash_id = flash_vendor | 0x40 << 8 | JEDEC_CAPACITY[flash_size] << 16
        self._file = open(flash_image_path, "a+b")
        if os.fstat(self._file.fileno()).st_size < flash_size:  # new flash reads erased
            self._file.write(b"\xff" * (flash_size - os.fstat(self._file.fileno()).st_size))
            self._file.flush()
        self.flash = mmap.mmap(self._file.fileno(), flash_size)
        self.regs = self._efuse_words(psram_mb)
        self.commands = []  # opcodes received, for tests and logs
        self.reset_state()

    def _efuse_words(self, psram_mb):
        m = self.mac
        psram = PSRAM_CAP[psram_mb]
        return {
            EFUSE_BLOCK1: int.from_bytes(m[2:6], "big"),  # read_mac: (word1 & 0xffff, word0)
            EFUSE_BLOCK1 + 4: int.from_bytes(m[0:2], "big"),
            EFUSE_BLOCK1 + 12: 2 << 18 | 2 << 24,  # minor revision 2, block version minor 2
            EFUSE_BLOCK1 + 16: (psram & 3) << 3 | (2 << 7 if psram else 0),  # AP_1v8 vendor
            EFUSE_BLOCK1 + 20: (psram >> 2) << 19,  # major revision 0: chip v0.2
            EFUSE_BLOCK2 + 16: 1,  # block version major 1
        }

    def reset_state(self):
        """Power-on state of the bootloader: ROM personality, nothing in progress."""
        self.stub = False
        self.pending_reset = None
        self.watchdog_armed = False
        self.chip_size = 16 * MB  # what the ROM assumes until SPI_SET_PARAMS
        self._rx = SlipDecoder()
        self._write = None  # current FLASH_BEGIN / FLASH_DEFL_BEGIN
        self._mem = None

    def idle(self):
        """No bytes for a while (the server's poll interval): an armed watchdog fires."""
        if self.watchdog_armed and not self.pending_reset:
            self.pending_reset = "watchdog"

    def close(self):
        self.flash.flush()
        self.flash.close()
        self._file.close()

    # -- framing ----------------------------------------------------------------------------

    def feed(self, data):
        """Bytes from the host in, bytes for the host out (possibly several frames)."""
        out = []
        for packet in self._rx.feed(data):
            if self.pending_reset:
                break  # the chip left the bootloader: later bytes go to the application
            out.append(self._packet(packet))
        return b"".join(out)

    def _packet(self, p):
        if len(p) < 8 or p[0] != 0:
            return b""  # not a request (e.g. a READ_FLASH ack): the loader ignores it
        _, op, size, chk = struct.unpack("<BBHI", p[:8])
        body = p[8:]
        self.commands.append(op)
        try:
            if size != len(body):
                raise Refused(BAD_LENGTH)
            handler = self._HANDLERS.get(op)
            if handler is None or (op >= 0xD0 and not self.stub):
                raise Refused(UNKNOWN_COMMAND)
            result = handler(self, body, chk)
        except Refused as e:
            code = e.args[0][1 if self.stub else 0]
            return self._reply(op, status=bytes([1, code]))
        if isinstance(result, bytes):  # already framed (SYNC, READ_FLASH, MEM_END)
            return result
        value, data = result if isinstance(result, tuple) else (result or 0, b"")
        return self._reply(op, value, data)

    def _reply(self, op, value=0, data=b"", status=b"\x00\x00"):
        # ROM status is 4 bytes (2 reserved), the stub's is 2.
        body = data + status + (b"" if self.stub else b"\x00\x00")
        return slip_encode(struct.pack("<BBHI", 1, op, len(body), value) + body)

    # -- commands ---------------------------------------------------------------------------

    def _sync(self, body, chk):
        if body != SYNC_BODY:
            raise Refused(BAD_LENGTH)
        # The ROM answers every SYNC 8 times; the stub answers with value 0.
        return self._reply(SYNC, 0 if self.stub else SYNC_VALUE) * 8

    def _security_info(self, body, chk):
        return 0, struct.pack("<IB7BII", 0, 0, *[0] * 7, self.chip_id, 0)

    def _read_reg(self, body, chk):
        if len(body) != 4:
            raise Refused(BAD_LENGTH)
        return self.regs.get(struct.unpack("<I", body)[0], 0)

    def _write_reg(self, body, chk):
        if not body or len(body) % 16:
            raise Refused(BAD_LENGTH)
        for i in range(0, len(body), 16):
            addr, value, mask, _delay = struct.unpack("<IIII", body[i:i + 16])
            self.regs[addr] = (self.regs.get(addr, 0) & ~mask) | (value & mask)
            self._register_side_effects(addr)

    def _register_side_effects(self, addr):
        if addr == SPI_CMD and self.regs[SPI_CMD] & SPI_CMD_USR:
            self.regs[SPI_W0] = self._spi_flash_command()
            self.regs[SPI_CMD] &= ~SPI_CMD_USR  # the "user" command completes at once
        elif (addr == RTC_WDTCONFIG0 and self.regs[addr] >> 31
              and self.regs.get(RTC_WDTWPROTECT) == RTC_WDT_WKEY):
            # esptool --after watchdog-reset arms the RTC watchdog, then still locks the
            # registers and expects a reply: the reset happens once the line goes idle.
            self.watchdog_armed = True

    def _spi_flash_command(self):
        """What the flash chip shifts back into W0 for a SPI "user" command."""
        command = self.regs.get(SPI_USR2, 0) & 0xFF
        if command == 0x9F:  # RDID: manufacturer, memory type, capacity
            return self.flash_id
        if command == 0x5A:  # RDSFDP: a JEDEC signature so esptool sees a NOR flash
            table = b"SFDP\x06\x01\x00\xff" + b"\xff" * 8
            addr = self.regs.get(SPI_ADDR, 0) & 0xFFFFFF
            return int.from_bytes(table[addr:addr + 4].ljust(4, b"\xff"), "little")
        return 0  # RDSR/RDSR2/RDSR3 and the rest: not busy, nothing write-protected

    def _ok(self, body, chk):  # SPI_ATTACH, CHANGE_BAUDRATE: nothing to emulate
        return 0

    def _set_params(self, body, chk):
        if len(body) != 24:
            raise Refused(BAD_LENGTH)
        self.chip_size = struct.unpack("<6I", body)[1]

    def _limit(self):
        return min(self.chip_size, self.flash_size)

    def _erase(self, offset, size):
        end = offset + (size + SECTOR - 1) // SECTOR * SECTOR
        if offset % SECTOR or end > self._limit():
            raise Refused(PAST_FLASH_END)
        self.flash[offset:end] = b"\xff" * (end - offset)

    def _program(self, addr, data):
        """NOR programming: bits only go 1 -> 0. Trailing 0xFF padding past the end is a no-op."""
        end = min(addr + len(data), self._limit())
        if addr > end or data[end - addr:].strip(b"\xff"):
            raise Refused(PAST_FLASH_END)
        old = int.from_bytes(self.flash[addr:end], "little")
        self.flash[addr:end] = (old & int.from_bytes(data[:end - addr], "little")).to_bytes(
            end - addr, "little")

    def _flash_begin(self, body, chk, deflate=False):
        if len(body) not in (16, 20):
            raise Refused(BAD_LENGTH)
        size, _blocks, block_size, offset = struct.unpack("<4I", body[:16])
        self._erase(offset, size)
        self._write = {"offset": offset, "block": block_size, "pos": offset, "end": offset + size,
                       "inflate": zlib.decompressobj() if deflate else None}

    def _flash_data(self, body, chk):
        data = self._data_block(body, chk)
        w = self._write
        if w is None or w["inflate"] is not None:
            raise Refused(NOT_IN_FLASH_MODE)
        seq = struct.unpack("<I", body[4:8])[0]
        self._program(w["offset"] + seq * w["block"], data)

    def _defl_data(self, body, chk):
        data = self._data_block(body, chk)
        w = self._write
        if w is None or w["inflate"] is None:
            raise Refused(NOT_IN_FLASH_MODE)
        try:
            plain = w["inflate"].decompress(data)
        except zlib.error:
            raise Refused(INFLATE_ERROR) from None
        if w["pos"] + len(plain) > max(w["end"], w["pos"]) and plain.strip(b"\xff"):
            raise Refused(PAST_FLASH_END)
        self._program(w["pos"], plain)
        w["pos"] += len(plain)

    def _data_block(self, body, chk):
        if len(body) < 16 or struct.unpack("<I", body[:4])[0] != len(body) - 16:
            raise Refused(BAD_LENGTH)
        data = body[16:]
        check = 0xEF
        for b in data:
            check ^= b
        if check != chk & 0xFF:
            raise Refused(BAD_CHECKSUM)
        return data

    def _flash_end(self, body, chk, op=FLASH_END):
        self._write = None
        run_user_code = len(body) >= 4 and struct.unpack("<I", body[:4])[0] == 1
        if not self.stub:  # the ROM leaves the loader
            self.pending_reset = "run-user-code" if run_user_code else "reboot"
        elif not run_user_code:  # the stub reboots, BOOT is still held: back in the ROM
            reply = self._reply(op)
            self.reset_state()
            return reply

    def _md5(self, body, chk):
        addr, size = struct.unpack("<II", body[:8])
        if addr + size > self.flash_size:
            raise Refused(PAST_FLASH_END)
        digest = hashlib.md5(self.flash[addr:addr + size])
        # ROM: 32 hex characters; stub: 16 raw bytes
        return 0, digest.digest() if self.stub else digest.hexdigest().encode()

    def _read_slow(self, body, chk):
        addr, size = struct.unpack("<II", body[:8])
        if size > 64 or addr + size > self.flash_size:
            raise Refused(PAST_FLASH_END)
        return 0, self.flash[addr:addr + size].ljust(64, b"\xff")  # always a 64-byte buffer

    def _mem_begin(self, body, chk):
        size, _blocks, block_size, offset = struct.unpack("<4I", body[:16])
        self._mem = {"offset": offset, "block": block_size, "data": bytearray(size)}

    def _mem_data(self, body, chk):
        data = self._data_block(body, chk)
        if self._mem is None:
            raise Refused(NOT_IN_FLASH_MODE)
        start = struct.unpack("<I", body[4:8])[0] * self._mem["block"]
        self._mem["data"][start:start + len(data)] = data

    def _mem_end(self, body, chk):
        no_entry, entry = struct.unpack("<II", body[:8])
        reply = self._reply(MEM_END)
        if no_entry or not entry:
            return reply
        # The uploaded code would run now; the only code esptool uploads is its flasher
        # stub, so from here on speak the stub's protocol, starting with its greeting.
        self.stub = True
        return reply + slip_encode(b"OHAI")

    def _erase_flash(self, body, chk):
        self._erase(0, self._limit())

    def _erase_region(self, body, chk):
        offset, size = struct.unpack("<II", body[:8])
        if size % SECTOR:
            raise Refused(BAD_LENGTH)
        self._erase(offset, size)

    def _read_flash(self, body, chk):
        offset, size, packet, _in_flight = struct.unpack("<4I", body[:16])
        if offset + size > self.flash_size or not packet:
            raise Refused(PAST_FLASH_END)
        # Simplification: all packets are sent at once; the host's 4-byte acks are ignored.
        data = self.flash[offset:offset + size]
        frames = [slip_encode(data[i:i + packet]) for i in range(0, size, packet)]
        return self._reply(READ_FLASH) + b"".join(frames) + slip_encode(hashlib.md5(data).digest())

    def _run_user_code(self, body, chk):
        self.pending_reset = "run-user-code"
        return b""  # esptool does not wait for a reply

    _HANDLERS = {
        SYNC: _sync, GET_SECURITY_INFO: _security_info, READ_REG: _read_reg,
        WRITE_REG: _write_reg, SPI_ATTACH: _ok, CHANGE_BAUDRATE: _ok,
        SPI_SET_PARAMS: _set_params,
        FLASH_BEGIN: _flash_begin, FLASH_DATA: _flash_data, FLASH_END: _flash_end,
        FLASH_DEFL_BEGIN: lambda self, b, c: self._flash_begin(b, c, deflate=True),
        FLASH_DEFL_DATA: _defl_data,
        FLASH_DEFL_END: lambda self, b, c: self._flash_end(b, c, FLASH_DEFL_END),
        SPI_FLASH_MD5: _md5, READ_FLASH_SLOW: _read_slow,
        MEM_BEGIN: _mem_begin, MEM_DATA: _mem_data, MEM_END: _mem_end,
        ERASE_FLASH: _erase_flash, ERASE_REGION: _erase_region, READ_FLASH: _read_flash,
        RUN_USER_CODE: _run_user_code,
    }
