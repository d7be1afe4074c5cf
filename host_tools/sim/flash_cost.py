"""What a filesystem write costs in board time on an ESP32-S3's SPI NOR flash under LittleFS.

While the SPI flash erases or programs, the ESP32-S3's cache is off and code running from flash
stalls (Espressif's FAQ: "writing operations to flash occupy CPU resources"), but the I2S DMA
keeps filling RAM: a long write is audio piling up in the DMA buffer, then lost.

The model (stated assumptions, not a measurement on a board; docs/protocol.md has the budget):
- Typical figures of the 8-16 MB quad SPI NOR parts on ESP32-S3 modules (e.g. Winbond W25Q64JV
  datasheet: sector erase 4 KB, 45 ms typical / 400 ms maximum; page program 256 B, 0.4 ms
  typical / 3 ms maximum; we use 0.7 ms per page with the SPI command overhead).
- LittleFS v2 with 4 KB blocks (MicroPython's esp32 port mounts VfsLfs2 on the partition's
  4096-byte erase blocks). A file is written into freshly erased blocks when it is closed; an
  append copies the file's partly filled last block first (LittleFS's copy-on-write CTZ
  skip-list, littlefs DESIGN.md), so appending n bytes to a file whose last block holds `tail`
  bytes programs tail + n bytes into ceil((tail + n) / 4096) new blocks.
- Every close, rename and remove commits the directory's metadata pair: one page; every 16th
  commit also compacts the pair: one more erase.
- Bytes are charged as they are written (a file kept open across frames spreads its cost), a
  block's erase when the write first reaches it.

While a sector erases, the I2S DMA interrupt is masked too: upstream builds do not set
CONFIG_I2S_ISR_IRAM_SAFE (no sdkconfig under micropython ports/esp32 names it; esp-idf's
esp_driver_i2s/Kconfig: "Ensure the I2S interrupt is IRAM-Safe by allowing the interrupt handler
to be executable when the cache is disabled (e.g. SPI Flash write)", default n). `last_erase_us`
is the erase part of the last write, for the world's I2S model (world.py, _advance_masked).
"""

BLOCK = 4096
PAGE = 256
ERASE_US = 45_000
PAGE_US = 700
COMMITS_PER_COMPACTION = 16


class FlashCost:
    def __init__(self, erase_us=ERASE_US, page_us=PAGE_US, cost_free=False):
        self.erase_us = erase_us
        self.page_us = page_us
        self.cost_free = cost_free
        self._commits = 0
        self.bytes = 0
        self.erases = 0
        self.busy_us = 0
        self.longest_us = 0
        self.last_erase_us = 0  # the erase part of the last write (the I2S interrupt masked)

    def _commit(self):
        self._commits += 1
        us = self.page_us
        if self._commits % COMMITS_PER_COMPACTION == 0:
            self.erases += 1
            us += self.erase_us
            return us, self.erase_us
        return us, 0

    def program(self, nbytes, erases):
        """Data written to a file: `erases` fresh blocks, `nbytes` bytes programmed."""
        self.bytes += nbytes
        self.erases += erases
        return self._cost(erases * self.erase_us + nbytes * self.page_us // PAGE,
                          erases * self.erase_us)

    def write(self, nbytes, tail=0):
        """A whole write and close: nbytes appended after `tail` bytes in the file's last block
        (0 for a new file), the tail block copied first; board time in us."""
        data = tail + nbytes if nbytes else 0
        return self.program(data, -(-data // BLOCK)) + self.metadata()

    def metadata(self):
        """A rename or remove."""
        return self._cost(*self._commit())

    def _cost(self, us, erase_us=0):
        if self.cost_free:
            self.last_erase_us = 0
            return 0
        self.last_erase_us = erase_us
        self.busy_us += us
        self.longest_us = max(self.longest_us, us)
        return us
