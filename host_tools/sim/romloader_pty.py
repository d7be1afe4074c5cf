"""Serve a `RomLoader` on a pseudo-terminal, so real esptool can talk to it.

`serve(fd, loader)` runs on any pty master fd (the virtual board hands over its own fd when it
boots in download mode). `VirtualRomBoard` is the standalone version for tests:

    with VirtualRomBoard(tmp_path / "flash.bin", flash_size=8 * MB) as board:
        subprocess.run(["esptool", "--port", board.port, "--before", "no-reset", "chip-id"])
"""

import errno
import os
import select
import threading
import tty

from .romloader import MB, RomLoader


def serve(fd, loader, stop=None, poll=0.05):
    """Answer as `loader` on pty master `fd` until it leaves the bootloader or `stop` is set.

    Returns the reset reason ("watchdog", "run-user-code", "reboot") after calling
    `loader.on_reset(reason)` once the reply that triggered it has been written, or None when
    stopped. The caller then runs the application on the same fd (or serves again).
    """
    try:
        return _serve(fd, loader, stop, poll)
    except (OSError, ValueError):  # the fd was closed under us: the cable was pulled
        return None


def _serve(fd, loader, stop, poll):
    while stop is None or not stop.is_set():
        if not select.select([fd], [], [], poll)[0]:
            loader.idle()
            data = b""
        else:
            try:
                data = os.read(fd, 65536)
            except BlockingIOError:  # the fd may be non-blocking (the virtual board's is)
                continue
            except OSError as e:
                if e.errno != errno.EIO:  # EIO: no process has the slave open right now
                    raise
                if stop is not None and stop.wait(poll):
                    break
                continue
        reply = loader.feed(data) if data else b""
        _write_all(fd, reply)
        if loader.pending_reset:
            reason = loader.pending_reset
            if loader.on_reset is not None:
                loader.on_reset(reason)
            return reason
    return None


def _write_all(fd, data):
    view = memoryview(data)
    while view:
        try:
            view = view[os.write(fd, view):]
        except BlockingIOError:  # pty buffer full: wait until the host reads
            select.select([], [fd], [], 1.0)


class VirtualRomBoard:
    """An ESP32-S3 held in download mode behind a pty; `.port` is the device path for esptool.

    After the loader leaves the bootloader (watchdog or run-user-code) the "application" is
    silent: input is drained until `enter_download_mode()` (the BOOT button + reset).
    `resets` lists the reasons seen.
    """

    def __init__(self, flash_image_path, flash_size=8 * MB, mac=b"\x24\x0a\xc4\x5e\xa7\x01",
                 psram_mb=0, on_reset=None):
        self.resets = []
        self._user_on_reset = on_reset
        self.loader = RomLoader(flash_image_path, flash_size, mac, self._on_reset, psram_mb)
        self._download = threading.Event()
        self._download.set()
        self._stop = threading.Event()
        self._thread = None
        self._master = self._slave = None
        self.port = None

    def _on_reset(self, reason):
        self.resets.append(reason)
        self._download.clear()
        if self._user_on_reset is not None:
            self._user_on_reset(reason)

    def unplug(self):
        """Pull the cable: esptool sees the port die mid-conversation."""
        self._stop.set()
        if self._master is not None:
            os.close(self._master)
            self._master = None

    def enter_download_mode(self):
        self.loader.reset_state()
        self._download.set()

    def _run(self):
        while not self._stop.is_set():
            if self._download.is_set():
                serve(self._master, self.loader, self._stop)
                continue
            try:
                if select.select([self._master], [], [], 0.05)[0]:
                    os.read(self._master, 65536)  # the application ignores esptool's bytes
            except (OSError, TypeError, ValueError):  # EIO between clients, or unplugged
                self._stop.wait(0.05)

    def __enter__(self):
        self._master, self._slave = os.openpty()
        # Raw mode, so no echo or newline translation before esptool opens the port; the
        # slave stays open here so reads on the master never see EIO between clients.
        tty.setraw(self._slave)
        self.port = os.ttyname(self._slave)
        self._thread = threading.Thread(target=self._run, name="virtual-rom", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join(2)
        if self._master is not None:
            os.close(self._master)
        os.close(self._slave)
        self.loader.close()
