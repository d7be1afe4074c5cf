"""VirtualBoard: the firmware in the MicroPython Unix port, behind a pseudo-terminal.

The supervisor plays the part of the board's silicon around MicroPython:
- the pseudo-terminal is the board's USB serial; bytes typed there go to MicroPython's stdin,
  except the interrupt character, which becomes SIGINT so running code is interrupted as on a
  board: Ctrl-C while pyexec runs code, nothing after `micropython.kbd_intr(-1)` (console.py
  has the upstream receive path this follows);
- soft resets, machine.reset() and crashes end the MicroPython process with an exit code and
  the supervisor starts a fresh one (fresh heap, as a reset gives);
- power cut kills the process outright; power on starts it again from boot.py.
"""

import errno
import hashlib
import os
import re
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import tty
from pathlib import Path

from ..board import files
from ..errors import EarshotError
from . import wire
from .console import ConsoleInput
from .flash_cost import FlashCost
from .runs import lock_flash
from .serial_line import BOOT_BAUD, SerialLine
from .unix_port import VIRTUAL_HEAP, micropython_binary, parse_heap
from .wire import (CHIP_BROWN_OUT, CHIP_CORE_SW, CHIP_POWERON, EXIT_BOOTLOADER, EXIT_HARD,
                   EXIT_SOFT_FRIENDLY, EXIT_SOFT_RAW, HARD_RESET, PWRON_RESET, SOFT_RESET, WDT_RESET)
from .world import DMA_BUFFER_SAMPLES, World, WorldServer, read_pcm

RUNTIME = Path(__file__).resolve().parent / "rt" / "vboard.py"
# Output held for a host that is slow to read before the oldest is dropped (a real USB CDC
# port pushes back instead; 16 MB is minutes of streamed audio).
_MAX_PENDING_OUT = 16 << 20


# How long a boot gesture is held past the start, in board seconds: the firmware decides after
# 2 s of holding (firmware/earshot/access.py HOLD_MS), plus margin.
BOOT_HOLD_S = 3.0

_BOOT_FAILURES = 3  # MicroPython dying before it boots this often in a row: stop, say why


def chip_mac(flash_dir):
    """A locally administered MAC (02:e5:...) that names the board whose flash is `flash_dir`."""
    digest = hashlib.sha256(str(Path(flash_dir).resolve()).encode()).digest()
    return ":".join("%02x" % b for b in b"\x02\xe5" + digest[:4])


class VirtualBoard:
    """A virtual ESP32-S3 Earshot board. Use as a context manager.

    `port` is the serial device path; `play`, `press`, `hold`, `release`, `switch`, `buttons`,
    `pins`, `power_cut`, `power_on`, `brownout`, `deploy` script the physical world around it.

    Fidelity knobs (defaults: an ESP32_GENERIC_S3 board as upstream MicroPython runs it):
    serial_cost   serial writes cost board time like the UART0 REPL mirror and USB CDC drivers
                  (host_tools/sim/serial_line.py); False: an ideal line
    uart_baud     UART0's baud rate at boot (MICROPY_HW_UART_REPL_BAUD); firmware may raise it
    tick_hz       the FreeRTOS tick the drivers sleep in (CONFIG_FREERTOS_HZ)
    usb_cdc       a host on the native USB port as well as on the UART mirror
    flash_cost    filesystem writes cost board time like LittleFS on SPI NOR (flash_cost.py)
    clock_start_ms  board time at power-on; ticks_ms() wraps at 2**30 ms, so start near it
                  to cross the wrap (the watchdog bites at its timeout in board time)
    renumerate    a hard reset or a power cycle gives the serial port a new name, as Linux may
                  give a board on native USB another /dev/ttyACMn after it re-enumerates
                  (`on_port` is called with the new one); False: the port keeps its name
    The I2S DMA buffer is the board file's mic "ibuf" (default 10240 bytes = 80 ms).
    """

    def __init__(self, flash_dir=None, erase=False, heap=VIRTUAL_HEAP, board="virtual", link=None,
                 mac=None, download_mode=False, serial_cost=True,
                 uart_baud=BOOT_BAUD, tick_hz=100, usb_cdc=True, flash_cost=True,
                 clock_start_ms=0, renumerate=False):
        self.heap = "%dK" % (parse_heap(heap) >> 10)
        self.board_id = board
        self.board = files.load(board)
        self._tmp = tempfile.mkdtemp(prefix="earshot-sim-")
        self.runtime_dir = Path(self._tmp)  # sockets and the MicroPython log, gone at close()
        self.flash_dir = Path(flash_dir) if flash_dir else Path(self._tmp) / "flash"
        self.flash_dir.parent.mkdir(parents=True, exist_ok=True)
        # One board per flash: a second simulator on the same files would corrupt the log.
        try:
            self._flash_lock = lock_flash(self.flash_dir)
        except EarshotError:
            shutil.rmtree(self._tmp, ignore_errors=True)
            raise
        if erase and self.flash_dir.exists():
            shutil.rmtree(self.flash_dir)
        self.flash_dir.mkdir(exist_ok=True)
        # A chip's MAC lives in its eFuse and is what machine.unique_id() returns: one per
        # board. Taken from the flash's path, so the same flash is the same board across runs
        # and two boards (two flash directories) are two chips.
        self.mac = mac or chip_mac(self.flash_dir)
        self.link = link
        self.download_mode = download_mode
        self.log_path = Path(self._tmp) / "micropython.log"
        self.serial_out_bytes = 0  # every byte the board ever wrote to its serial port
        self._taps = []
        self._proc = None
        self._frozen = None  # the firmware process stopped by freeze_until_host_writes()
        self._powered = False
        self._in_reset = False  # EN held low by a rig (hold_in_reset)
        self._lock = threading.RLock()
        self._closed = False
        mic = self.board.get("mic", {})
        dma = (mic.get("ibuf", 10240) // (DMA_BUFFER_SAMPLES * 8)) * DMA_BUFFER_SAMPLES
        mute = self.board.get("buttons", {}).get("mute", {})
        self.world = World(
            self.board.get("reset_state", {}), dma_samples=dma,
            serial=SerialLine(baud=uart_baud, tick_ms=1000 / tick_hz, usb=usb_cdc,
                              cost_free=not serial_cost),
            flash=FlashCost(cost_free=not flash_cost), clock_start_ms=clock_start_ms,
            mute_switch=mute.get("kind") == "switch")
        self.watchdog_resets = 0
        self.world.on_boot = self._on_booted
        self._server = WorldServer(self.world, Path(self._tmp) / "world.sock")
        self.renumerate = renumerate
        self.on_port = None  # called with the new port name after a renumeration
        self._master, self._slave = os.openpty()
        tty.setraw(self._slave)
        os.set_blocking(self._master, False)
        self.port = os.ttyname(self._slave)
        os.ftruncate(self._flash_lock, 0)
        os.pwrite(self._flash_lock, b"earshot sim (pid %d, serial %s)" % (
            os.getpid(), self.port.encode()), 0)
        self._stdin_r, self._stdin_w = os.pipe()
        self.console = ConsoleInput(lambda data: os.write(self._stdin_w, data), self._interrupt)
        self.world.on_kbd_intr = self.console.set_char
        self._out_r, self._out_w = os.pipe()
        self._pending_out = bytearray()
        self._rom = None  # the ROM loader while the chip sits in its serial bootloader
        self._rom_stop = threading.Event()
        # The SPI flash esptool writes in download mode (MicroPython itself is the Unix port).
        self.flash_image = self.flash_dir.with_name(self.flash_dir.name + ".bin")
        if erase and self.flash_image.exists():
            self.flash_image.unlink()
        self.resets = []  # how the chip left download mode, as the ROM loader reported it
        self.boots = 0
        self.failure = None  # why MicroPython cannot start, once it has died at boot repeatedly
        self._early_deaths = 0
        self._recent_out = b""  # the last serial output, to tell why a start-up failed
        self._ctrl_c_in_window = False  # ctrl_c_in_window(): for the next start only

    # -- lifecycle -------------------------------------------------------------------------

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.close()

    def start(self):
        if self.link:
            _relink(self.link, self.port)
        threading.Thread(target=self._relay, daemon=True, name="sim-relay").start()
        threading.Thread(target=self._supervise, daemon=True, name="sim-supervisor").start()
        self.power_on()
        return self

    def close(self):
        if self._closed:
            return
        self._closed = True
        self._kill()
        self._server.close()
        for fd in (self._master, self._slave, self._stdin_r, self._stdin_w, self._out_r, self._out_w):
            try:
                os.close(fd)
            except OSError:
                pass
        if self.link and os.path.islink(self.link):
            os.unlink(self.link)
        shutil.rmtree(self._tmp, ignore_errors=True)
        os.close(self._flash_lock)

    # -- power -------------------------------------------------------------------------------

    @property
    def powered(self):
        return self._powered

    def power_cut(self):
        """Cut power abruptly: the process dies wherever it is; outputs go dark."""
        with self._lock:
            self._powered = False
            self._kill()
            self.console.power_off()
            self.world.power_off()

    def power_on(self, reset_cause=PWRON_RESET, download=None, chip_reset=None):
        """Power on; with `download` (BOOT held, default: the constructor's download_mode) the
        chip starts in its ROM serial bootloader instead of MicroPython. `chip_reset` is the
        reason the chip itself records (wire.CHIP_*; default: what `reset_cause` implies)."""
        with self._lock:
            if self._powered:
                return
            self._drain_stdin()  # bytes sent to a dead board are lost
            self._powered = True
            if self.renumerate and self.boots:
                self._new_port()
            self.world.power_on()
            if self._in_reset:
                return  # EN held low: the chip starts when it is released
            if self.download_mode if download is None else download:
                self._enter_bootloader()
            else:
                self._spawn("friendly", reset_cause, chip_reset)

    def brownout(self, hardware_reset=False):
        """The supply sags below the brown-out threshold: the chip resets. Upstream MicroPython
        reports it as a power-on (ports/esp32/modmachine.c, mp_machine_reset_cause maps
        ESP_RST_BROWNOUT to MP_PWRON_RESET). With IDF 5.x defaults the brown-out interrupt
        resets through esp_rom_software_reset_system(), so the chip's own reason is 3
        (RESET_REASON_CORE_SW, wire.py has the lines); `hardware_reset` is the detector's own
        reset (15, RESET_REASON_SYS_BROWN_OUT)."""
        self.power_cut()
        self.power_on(PWRON_RESET, chip_reset=CHIP_BROWN_OUT if hardware_reset else CHIP_CORE_SW)

    def host_stops_reading(self, ms, at=None):
        """The host holds the port open (DTR set) but reads nothing for `ms` of board time,
        from now or from board time `at` (seconds): upstream's USB CDC writes then block up to
        0.5-1 s each and the host gets only what fits in the FIFO (serial_line.py)."""
        if not 0 < ms <= 3_600_000:
            raise EarshotError("host stops reading for %r ms: give 1 to 3600000" % (ms,))
        self.world.host_stops_reading(ms, at)

    def switch(self, engaged):
        """Slide the board's latched mute switch: True is "mute" (a board file whose
        buttons.mute has "kind": "switch", like the ESP32-S3-BOX-3)."""
        self.world.set_switch(engaged)

    def enter_download_mode(self):
        """Hold BOOT and press RESET: the ROM bootloader answers on the port (for esptool)."""
        with self._lock:
            self._kill()
            self._powered = True
            self.world.power_on()
            self._enter_bootloader()

    def _enter_bootloader(self):
        from .romloader import RomLoader

        size = _parse_mb(self.board.get("flash_size", "8MB"))
        self._proc = None
        self._rom_stop = threading.Event()
        # The relay thread serves it: only one thread ever reads the port.
        self._rom = RomLoader(self.flash_image, size, self.mac)

    def _serve_rom(self):
        from .romloader_pty import serve

        loader, stop = self._rom, self._rom_stop
        reason = serve(self._master, loader, stop)
        with self._lock:
            if self._rom is not loader:
                return
            self._rom = None
            if reason and self._powered and not self._closed:
                # esptool's watchdog reset / run-user-code: the application boots.
                self.resets.append(reason)
                self.world.power_on()
                self._spawn("friendly", WDT_RESET if reason == "watchdog" else HARD_RESET)

    def hard_reset(self):
        """Press the reset button (EN): like a power cycle; the USB port stays unless the board
        renumerates (`renumerate`)."""
        self.power_cut()
        self.power_on(HARD_RESET)

    def _new_port(self):
        """The USB device went away with the chip and enumerates again under a new name: a
        host holding the old one sees it gone (its reads fail), the new one appears."""
        master, slave = os.openpty()
        tty.setraw(slave)
        os.set_blocking(master, False)
        old = (self._master, self._slave)
        self._master, self._slave = master, slave
        self.port = os.ttyname(slave)
        self._pending_out = bytearray()  # what the old port held is gone with it
        for fd in old:
            try:
                os.close(fd)
            except OSError:
                pass
        if self.link:
            _relink(self.link, self.port)
        if self.on_port:
            self.on_port(self.port)

    def hold_in_reset(self, held):
        """The EN (reset) line, as a rig drives it: held low the chip stops and its outputs
        show their reset state; released, it boots as after the reset button."""
        with self._lock:
            if held:
                self._kill()
                self._proc = None  # stopped, not crashed: the supervisor must not restart it
                self.console.power_off()  # the USB port goes with the chip
                self._in_reset = True
                if self._powered:
                    self.world.power_on()  # pins back to their reset state
                return
            if not self._in_reset:
                return
            self._in_reset = False
            if self._powered:
                self._drain_stdin()
                self.world.power_on()
                self._spawn("friendly", HARD_RESET)

    @property
    def in_reset(self):
        return self._in_reset

    def boot_holding(self, button, how="cycle", seconds=BOOT_HOLD_S, timeout=60):
        """Hold `button` ('action', 'mute' or 'mute+action') while the board starts, as a
        person arms test mode or unlocks a locked board: `how` is 'cycle' (the reset button)
        or 'on' (power applied); the button is released `seconds` of board time after the
        start, past the firmware's boot gesture."""
        if how == "on" and self._powered:
            raise EarshotError("the board is already powered: cycle it to start it again "
                               "with the button held")
        self.hold(button)
        try:
            if how == "on":
                self.power_on()
            else:
                self.hard_reset()
            self.wait_booted(timeout=timeout)
            # Board time only runs while the firmware reads frames: the boot gesture reads
            # them from its start, so this is the gesture's own clock.
            if not self.world.wait_board_time(self.time_s + seconds, wall_timeout=timeout):
                raise EarshotError("the virtual board stopped reading its buttons at boot "
                                   "(see %s)" % self.log_path)
        finally:
            self.release(button)
        return self.time_s

    def wait_booted(self, timeout=10):
        deadline = time.monotonic() + timeout
        while not self.world.booted.wait(0.1):
            if self.failure:
                raise EarshotError("the virtual board does not boot: %s" % self.failure)
            if time.monotonic() > deadline:
                raise EarshotError("virtual board did not boot in %ss (see %s)"
                                   % (timeout, self.log_path))

    def _spawn(self, mode, cause, chip_reset=None):
        env = dict(os.environ)
        if chip_reset is None:
            chip_reset = {PWRON_RESET: CHIP_POWERON}.get(cause, 0)
        env.update({
            wire.ENV_FLASH: str(self.flash_dir),
            wire.ENV_MODE: mode,
            wire.ENV_SOCK: self._server.path,
            wire.ENV_RESET_CAUSE: str(cause),
            wire.ENV_CHIP_RESET: str(chip_reset),
            wire.ENV_MAC: self.mac,
            wire.ENV_CTRL_C_PENDING: "1" if self._ctrl_c_in_window else "",
            wire.ENV_CPU_HZ: str(self.world.cpu_hz if cause == SOFT_RESET else wire.BOOT_CPU_HZ),
        })
        self._ctrl_c_in_window = False
        self.console.reset(keep_usb=cause == SOFT_RESET)
        if cause != SOFT_RESET:
            self.world.chip_started()
        self.world.booted.clear()
        log = open(self.log_path, "ab")
        self._proc = subprocess.Popen(
            [micropython_binary(), "-X", "heapsize=" + self.heap, str(RUNTIME)],
            stdin=self._stdin_r,
            stdout=self._out_w,
            stderr=log,
            env=env,
            # Ctrl-C is delivered by us as SIGINT to this process only.
            start_new_session=True,
        )
        log.close()
        self.boots += 1

    def _kill(self):
        self._thaw()
        if self._rom is not None:
            self._rom = None
            self._rom_stop.set()
        proc = self._proc
        if proc and proc.poll() is None:
            proc.kill()
            proc.wait()
        self._server.drop_connections()

    def _drain_stdin(self):
        os.set_blocking(self._stdin_r, False)
        try:
            while os.read(self._stdin_r, 65536):
                pass
        except BlockingIOError:
            pass
        finally:
            os.set_blocking(self._stdin_r, True)

    def _supervise(self):
        # Restart MicroPython after resets, as the chip would; bite on watchdog timeouts.
        while not self._closed:
            proc = self._proc
            if proc is None:
                time.sleep(0.01)
                continue
            try:
                code = proc.wait(timeout=0.05)
            except subprocess.TimeoutExpired:
                if self.world.check_watchdog():
                    with self._lock:
                        if self._proc is proc and self._powered:
                            self._kill()
                            self.watchdog_resets += 1
                            self.world.power_on()
                            self._spawn("friendly", WDT_RESET)
                continue
            with self._lock:
                if self._proc is not proc or not self._powered or self._closed:
                    continue
                self._server.drop_connections()
                if code == EXIT_BOOTLOADER:
                    self.world.power_on()
                    self._enter_bootloader()
                elif code == EXIT_SOFT_RAW:
                    self._spawn("raw", SOFT_RESET)
                elif code == EXIT_SOFT_FRIENDLY:
                    self._spawn("friendly", SOFT_RESET)
                else:
                    # machine.reset() or a crash: the chip resets and the outputs return to
                    # their reset state.
                    if code != EXIT_HARD:
                        with open(self.log_path, "ab") as f:
                            f.write(b"\n[sim] MicroPython exited with %d: board reset\n" % code)
                        if self._died_at_boot():
                            continue
                    self.world.power_on()
                    self._spawn("friendly", HARD_RESET)

    def _died_at_boot(self):
        """A crash before the runtime announced itself; True once it is hopeless (a reset
        loop: a real board would keep rebooting, the simulator stops and says why)."""
        if self.world.booted.is_set():
            return False
        self._early_deaths += 1
        if self._early_deaths < _BOOT_FAILURES:
            return False
        text = self.log_path.read_text(errors="replace") + "\n" + self._recent_out.decode(
            "utf-8", "replace")
        errors = re.findall(r"^(\w+Error: [^\r\n]*)", text, re.M)
        why = errors[-1] if errors else "no error message"
        self.failure = "MicroPython exited at start-up %d times (%s)%s" % (
            self._early_deaths, why,
            ": is --heap %s too small?" % self.heap if "MemoryError" in why else "")
        self._proc = None
        return True

    def _on_booted(self):
        # The runtime announced itself: the USB serial comes up (console.py).
        with self._lock:
            self._early_deaths = 0
        self.console.booted()

    def _interrupt(self):
        proc = self._proc
        if proc and proc.poll() is None:
            try:
                os.kill(proc.pid, signal.SIGINT)
            except ProcessLookupError:
                pass

    # -- serial relay ----------------------------------------------------------------------------

    def _relay(self):
        import select

        poller = select.poll()
        master = self._master
        poller.register(master, select.POLLIN)
        poller.register(self._out_r, select.POLLIN)
        while not self._closed:
            if master != self._master:  # renumerated: poll the new port
                poller = select.poll()
                master = self._master
                poller.register(master, select.POLLIN)
                poller.register(self._out_r, select.POLLIN)
            if self._rom is not None:
                # Download mode: the ROM loader owns the port until it resets the chip.
                self._serve_rom()
                continue
            if self._pending_out:
                poller.modify(master, select.POLLIN | select.POLLOUT)
            else:
                poller.modify(master, select.POLLIN)
            try:
                events = poller.poll(100)
            except (OSError, ValueError):
                return
            for fd, ev in events:
                if fd == self._out_r and ev & select.POLLIN:
                    self._from_board()
                elif fd == master == self._master:
                    if ev & select.POLLIN:
                        self._from_host()
                    if ev & select.POLLOUT:
                        self._flush_out()

    def _from_board(self):
        try:
            data = os.read(self._out_r, 65536)
        except OSError:
            return
        self.serial_out_bytes += len(data)
        self._recent_out = (self._recent_out + data)[-2048:]
        for tap in list(self._taps):
            tap.extend(data)
        self._pending_out += data
        if len(self._pending_out) > _MAX_PENDING_OUT:
            # Nobody is reading the port: keep the newest output, like a USB FIFO overflowing.
            del self._pending_out[: len(self._pending_out) - _MAX_PENDING_OUT]
        self._flush_out()

    def _flush_out(self):
        try:
            n = os.write(self._master, self._pending_out)
            del self._pending_out[:n]
        except BlockingIOError:
            pass
        except OSError as e:
            if e.errno != errno.EIO:
                raise

    def _from_host(self):
        try:
            data = os.read(self._master, 65536)
        except (BlockingIOError, OSError):
            return
        if not self._powered:
            return
        self._thaw()
        self.console.feed(data)

    def freeze_until_host_writes(self):
        """Board time stands still until the host's next byte reaches the board: the firmware
        is stopped (SIGSTOP; board time moves only when it asks for audio) and goes on as that
        byte arrives. A command a slow PC starts now lands at this board time, however long the
        program takes to start: for tests of a board-time window (a 5 s cool-down) that a busy
        machine must not stretch."""
        with self._lock:
            proc = self._proc
            if proc is None or proc.poll() is not None or self._frozen is not None:
                return
            self.world.set_paused(True)  # no "stuck firmware" watchdog bite meanwhile
            os.kill(proc.pid, signal.SIGSTOP)
            self._frozen = proc

    def _thaw(self):
        with self._lock:
            proc, self._frozen = self._frozen, None
            if proc is None:
                return
            try:
                os.kill(proc.pid, signal.SIGCONT)
            except ProcessLookupError:
                pass
            self.world.set_paused(False)

    def tap(self):
        """Start capturing everything the board writes to serial; returns the growing buffer."""
        buf = bytearray()
        self._taps.append(buf)
        return buf

    def untap(self, buf):
        """Stop capturing into `buf`."""
        if buf in self._taps:
            self._taps.remove(buf)

    # -- the physical world ------------------------------------------------------------------

    def play(self, audio, live=False):
        """Queue a WAV path or 16 kHz mono int16 PCM bytes; returns the board time it ends.
        By default the firmware hears it as fast as it reads (a session is over in a blink of
        the host's clock); `live=True`: a person says it now, heard no faster than real time,
        so a page watching the board shows the session for as long as it lasts."""
        return self.world.play(read_pcm(audio), live=live)

    def press(self, button, seconds=0.1, wait=True, after=0.0):
        """Press `button` ('mute' or 'action') for `seconds` of board time, starting `after`
        board seconds from now."""
        end = self.world.hold(button, seconds, at=self.time_s + after if after else None)
        if wait:
            # Return once the firmware has had two frames to act on the release. Board time only
            # advances while firmware reads the mic; without it, fall back to wall time.
            if not self.world.wait_board_time(end + 0.04,
                                              wall_timeout=(seconds + after) * 4 + 2.0):
                self.world.release(button)
        return end

    def hold(self, button):
        self.world.hold(button)

    def ctrl_c_in_window(self):
        """At the next start, a Ctrl-C byte arrives exactly while the firmware turns Ctrl-C off
        (main.py's first line): on the board it is then pending, raised at the VM's next
        pending-exception check (rt/pending_ctrl_c.py models where that is)."""
        self._ctrl_c_in_window = True

    def release(self, button):
        self.world.release(button)

    def buttons(self):
        return self.world.buttons()

    def edges(self, since=0.0):
        """Pin and button changes since board time `since`: what a logic analyser records."""
        return self.world.edges(since)

    def probe_time(self):
        """Now, in the clock edges() uses (board time)."""
        return self.time_s

    def pins(self):
        return self.world.pins()

    def speaker_played(self, since=0.0):
        """What the board's speaker played from board time `since`: [(board s, PCM)]."""
        return self.world.speaker_played(since)

    @property
    def time_s(self):
        return self.world.samples / wire.RATE

    def wait_audio_done(self, timeout=60):
        """Wait until the firmware has read all queued audio (out of the DMA buffer too)."""
        if not self.world.wait(self.world.audio_read, timeout):
            raise EarshotError("virtual microphone still has audio queued after %ss: is the "
                               "firmware running?" % timeout)

    def advance(self, seconds, timeout=None):
        """Let `seconds` of board time pass: what is queued plays, then silence. The silence is
        queued like a recording, so the firmware hears it as fast as it reads (the same
        samples, frames and board time as a quiet room at real-time pace; the host's clock
        just does not wait for it). A test that needs a quiet room to last on the host's clock
        too (a page watching) lets time pass without advance()."""
        target = self.time_s + seconds
        gap = int(round((seconds - self.world.queued_seconds()) * wire.RATE))
        span = self.world.queue(bytes(2 * gap)) if gap > 0 else None
        if self.world.wait_board_time(target, wall_timeout=timeout or seconds * 2 + 5):
            return True
        if span:
            # The firmware stopped reading (a power cut, a hang): the silence it did not hear
            # is not left queued in front of what the test plays next.
            self.world.unplay(span)
        return False

    def deploy(self, **kwargs):
        from ..board.deploy import deploy

        return deploy(self.port, board_id=self.board_id, **kwargs)


def _parse_mb(text):
    return int(str(text).upper().rstrip("B").rstrip("M")) * 1024 * 1024


def _relink(link, target):
    link = Path(link)
    if link.is_symlink() or link.exists():
        if not link.is_symlink():
            raise EarshotError("--link %s exists and is not a symlink; choose another path" % link)
        link.unlink()
    try:
        link.symlink_to(target)
    except OSError as e:
        raise EarshotError("cannot make --link %s: %s" % (link, e.strerror or e)) from None
