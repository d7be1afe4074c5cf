# The virtual board's "ROM and pyexec", running inside the MicroPython Unix port.
#
# A real ESP32-S3 mounts its flash, runs boot.py, then main.py (only when the REPL is in
# friendly mode), then serves the REPL on its USB serial. This module does the same over
# stdin/stdout, which the host-side supervisor (host_tools/sim/board.py) joins to a
# pseudo-terminal. Resets end this process with an exit code; the supervisor starts a new
# one, so every soft reset gets a fresh heap exactly as on a board.
import os
import sys

# The exit codes, reset causes and socket opcodes shared with the host side: ../wire.py.
sys.path.insert(0, __file__.rsplit("/", 2)[0])
import wire  # noqa: E402

sys.path.pop(0)
EXIT_SOFT_RAW = wire.EXIT_SOFT_RAW
EXIT_SOFT_FRIENDLY = wire.EXIT_SOFT_FRIENDLY
EXIT_HARD = wire.EXIT_HARD
EXIT_BOOTLOADER = wire.EXIT_BOOTLOADER

_CTRL_A = 1
_CTRL_B = 2
_CTRL_C = 3
_CTRL_D = 4
_CTRL_E = 5
_PASTE_WINDOW = 256

_out = sys.stdout
_in = sys.stdin.buffer


class Reset(BaseException):
    # Raised by the machine shim and by Ctrl-D; a BaseException so user code's
    # `except Exception` cannot swallow a reset, as on a board.
    def __init__(self, code):
        self.code = code


def write(s):
    _out.write(s)


def getc():
    # While the REPL waits for input the interrupt char is -1 (pyexec sets it only while code
    # runs), so Ctrl-C arrives here as the byte itself; a SIGINT that raced with the change
    # means the same.
    try:
        b = _in.read(1)
    except KeyboardInterrupt:
        return _CTRL_C
    if not b:
        raise Reset(0)  # the supervisor closed the line: power is gone
    return b[0]


# ---- machine shim: what `mpremote reset` and friends need from `machine` ----------------


class _MachineShim:
    PWRON_RESET = wire.PWRON_RESET
    HARD_RESET = wire.HARD_RESET
    WDT_RESET = wire.WDT_RESET
    DEEPSLEEP_RESET = wire.DEEPSLEEP_RESET
    SOFT_RESET = wire.SOFT_RESET

    def __init__(self, builtin):
        self._builtin = builtin

    def __getattr__(self, name):
        return getattr(self._builtin, name)

    def reset(self):
        raise Reset(EXIT_HARD)

    def soft_reset(self):
        raise Reset(EXIT_SOFT_FRIENDLY)

    def bootloader(self):
        raise Reset(EXIT_BOOTLOADER)

    def reset_cause(self):
        return int(os.getenv(wire.ENV_RESET_CAUSE) or wire.PWRON_RESET)

    # The CPU clock: 160 MHz after a chip reset, ESP-IDF's default, as upstream's plain
    # ESP32_GENERIC_S3 build runs (it does not include boards/sdkconfig.240mhz); freq(hz) takes
    # what ports/esp32/modmachine.c mp_machine_set_freq takes (20/40/80/160/240 MHz, else
    # ValueError) and freq() reports it from then on, through a soft reset too (the world keeps
    # it: wire.OP_CLOCK).
    def freq(self, *args):
        if not args:
            return int(os.getenv(wire.ENV_CPU_HZ) or wire.BOOT_CPU_HZ)
        mhz = int(args[0]) // 1_000_000
        if mhz not in (20, 40, 80, 160, 240):
            raise ValueError("frequency must be 20MHz, 40MHz, 80Mhz, 160MHz or 240MHz")
        os.putenv(wire.ENV_CPU_HZ, str(mhz * 1_000_000))
        if _link is not None:
            import struct

            _link.write(wire.OP_CLOCK + struct.pack("<I", mhz * 1_000_000))
            _link.read(1)

    def unique_id(self):
        mac = os.getenv(wire.ENV_MAC) or "02:00:00:00:00:01"
        return bytes(int(x, 16) for x in mac.split(":"))


def _install_machine():
    import machine

    sys.modules["machine"] = _MachineShim(machine)


# ---- the interrupt character: what makes 0x03 a KeyboardInterrupt ------------------------
# On the board the USB/UART receive path compares each byte with mp_interrupt_char
# (host_tools/sim/console.py quotes it). Here the supervisor does that comparison, so every
# change of the interrupt char is reported to it over the world socket.

_link = None  # the runtime's own connection to the world (see _announce)


def _set_interrupt_char(c):
    # mp_hal_set_interrupt_char(c). Turning it off waits until the supervisor applied it, so
    # no byte sent afterwards can interrupt; turning it on takes effect from the next byte,
    # as on the board (straight-line code: nothing here can raise a pending interrupt early).
    if _link is None:
        return
    if c < 0:
        _link.write(wire.OP_KBD_INTR + bytes((wire.KBD_INTR_OFF,)))
        _link.read(1)
    else:
        _link.write(wire.OP_KBD_INTR + bytes((c & 0xFF,)))


class _MicropythonShim:
    # `micropython` as the firmware sees it: the Unix port's module, except kbd_intr, which on
    # the board only sets mp_interrupt_char (py/modmicropython.c mp_micropython_kbd_intr ->
    # mp_hal_set_interrupt_char). The Unix port's own SIGINT handler stays installed; whether a
    # SIGINT is ever sent is the supervisor's decision, following this.
    def __init__(self, builtin):
        self._builtin = builtin

    def __getattr__(self, name):
        return getattr(self._builtin, name)

    def kbd_intr(self, c):
        _set_interrupt_char(c)


def _install_micropython():
    import micropython

    sys.modules["micropython"] = _MicropythonShim(micropython)


class _OsShim:
    # Quirk of the Unix port: with VfsPosix mounted at "/", os.rename() of absolute paths
    # fails with ENOENT (relative paths work). On the board LittleFS renames either, so the
    # virtual board renames relative to "/" on the firmware's behalf.
    def __init__(self, builtin):
        self._os = builtin

    def __getattr__(self, name):
        return getattr(self._os, name)

    def rename(self, old, new):
        o = self._os
        _flash_cost(wire.FLASH_META, 0, 0)
        if not (old.startswith("/") or new.startswith("/")):
            return o.rename(old, new)
        cwd = o.getcwd()
        o.chdir("/")
        try:
            o.rename(_abs(cwd, old)[1:], _abs(cwd, new)[1:])
        finally:
            o.chdir(cwd)

    def remove(self, path):
        _flash_cost(wire.FLASH_META, 0, 0)
        return self._os.remove(path)


# ---- flash: what writing costs on the board's SPI flash ------------------------------------
# The world charges board time for each write (host_tools/sim/flash_cost.py: LittleFS on SPI
# NOR). Files opened for writing are wrapped so every write is charged as LittleFS would program
# it (a block's erase when the data first reaches it; an append first copies the file's partly
# filled last block), and every close, rename and remove as a metadata commit. Reads cost nothing.

_BLOCK = 4096


def _flash_cost(kind, erases, nbytes):
    if _link is None:
        return
    import struct

    try:
        _link.write(wire.OP_FLASH + kind + struct.pack("<II", erases, nbytes))
        _link.read(1)  # the world has charged the time
    except OSError:
        pass


class _WriteFile:
    def __init__(self, f, tail):
        self._f = f
        self._pos = tail  # bytes already in the file's last block
        self._copy = tail  # an append's first write copies them into a fresh block

    def write(self, data):
        n = self._f.write(data) or 0
        if n:
            start, end = self._pos, self._pos + n
            erases = -(-end // _BLOCK) - (-(-start // _BLOCK))
            if self._copy:
                erases += 1
            _flash_cost(wire.FLASH_PROGRAM, erases, n + self._copy)
            self._copy = 0
            self._pos = end
        return n

    def close(self):
        if self._f is None:
            return
        self._f.close()
        self._f = None
        _flash_cost(wire.FLASH_META, 0, 0)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __getattr__(self, name):
        return getattr(self._f, name)


def _install_flash_costs():
    import builtins

    real_open = builtins.open

    def open_(path, mode="r", *args, **kw):
        f = real_open(path, mode, *args, **kw)
        if "w" in mode:
            return _WriteFile(f, 0)
        if "a" in mode:
            try:
                size = os.stat(path)[6]
            except OSError:
                size = 0
            return _WriteFile(f, size % _BLOCK)
        return f

    builtins.open = open_


def _abs(cwd, path):
    if path.startswith("/"):
        return path
    return cwd.rstrip("/") + "/" + path


def _install_os():
    sys.modules["os"] = _OsShim(os)


# ---- running code ------------------------------------------------------------------------


def _exec(code, globals_):
    # shared/runtime/pyexec.c parse_compile_execute(): compile first, then Ctrl-C interrupts
    # only while the code runs, then the interrupt char is -1 again (a pending interrupt that
    # lands while it is being turned off counts as the code's own exception, as there).
    _set_interrupt_char(_CTRL_C)
    try:
        exec(code, globals_)
    finally:
        _set_interrupt_char(-1)


def _run(source, mode, globals_):
    # Compile and run; return the exception to report (as pyexec does), or None.
    try:
        _exec(compile(source, "<stdin>", mode), globals_)
    except Reset:
        raise
    except SystemExit:
        raise Reset(EXIT_SOFT_FRIENDLY)
    except BaseException as e:  # noqa: B036 - the REPL reports everything, as a board does
        return e
    return None


def _run_raw(source, globals_):
    # Raw REPL framing: output, EOF, error output, EOF.
    e = _run(source, "exec", globals_)
    write("\x04")
    if e is not None:
        sys.print_exception(e, _out)
    write("\x04")


def _run_file(name, globals_):
    # pyexec_file_if_exists(): True when the file ran to the end or does not exist ("no file is
    # the same as an empty file executing without fail"), False after an uncaught exception.
    try:
        with open(name) as f:
            source = f.read()
    except OSError:
        return True
    try:
        _exec(compile(source, name, "exec"), globals_)
    except Reset:
        raise
    except SystemExit:
        raise Reset(EXIT_SOFT_FRIENDLY)
    except BaseException as e:  # noqa: B036
        sys.print_exception(e, _out)
        return False
    return True


# ---- raw REPL (what mpremote uses) ---------------------------------------------------------


def _raw_paste(globals_):
    # Raw-paste mode: flow-controlled upload, then compile and run.
    write("R\x01")
    write(bytes((_PASTE_WINDOW & 0xFF, _PASTE_WINDOW >> 8)).decode())
    buf = bytearray()
    since_ack = 0
    while True:
        c = getc()
        if c == _CTRL_D:
            write("\x04")
            break
        if c == _CTRL_C:
            write("\x04")
            return
        buf.append(c)
        since_ack += 1
        if since_ack >= _PASTE_WINDOW:
            since_ack = 0
            write("\x01")
    _run_raw(bytes(buf), globals_)


def raw_repl(globals_):
    write("raw REPL; CTRL-B to exit\r\n>")
    buf = bytearray()
    while True:
        try:
            if _raw_step(globals_, buf):
                return
        except KeyboardInterrupt:
            # Ctrl-C landing between reads (while we print) only clears the line.
            buf[:] = b""


def _raw_step(globals_, buf):
    # One input byte of the raw REPL; returns True to leave for the friendly REPL.
    c = getc()
    if c == _CTRL_A:
        write("\r\nraw REPL; CTRL-B to exit\r\n>")
        buf[:] = b""
    elif c == _CTRL_B:
        write("\r\n")
        return True
    elif c == _CTRL_C:
        buf[:] = b""
    elif c == _CTRL_E and not buf:
        if getc() == ord("A") and getc() == _CTRL_A:
            _raw_paste(globals_)
            write(">")
        else:
            write("R\x00")
    elif c == _CTRL_D:
        if not buf:
            write("\r\n")
            raise Reset(EXIT_SOFT_RAW)
        write("OK")
        _run_raw(bytes(buf), globals_)
        write(">")
        buf[:] = b""
    else:
        buf.append(c)
    return False


# ---- friendly REPL ---------------------------------------------------------------------------


def _banner():
    v = sys.implementation.version
    write(
        "MicroPython v%d.%d.%d on Earshot virtual board; ESP32S3 (Unix port)\r\n"
        'Type "help()" for more information.\r\n' % (v[0], v[1], v[2])
    )


def _readline(prompt):
    # Returns the line, or a control code the caller acts on.
    write(prompt)
    line = bytearray()
    while True:
        c = getc()
        if c in (13, 10):
            write("\r\n")
            return bytes(line).decode()
        if c in (_CTRL_A, _CTRL_B, _CTRL_E):
            return c
        if c == _CTRL_C:
            write("\r\nKeyboardInterrupt\r\n")
            return _CTRL_C
        if c == _CTRL_D:
            if not line:
                return _CTRL_D
            continue
        if c in (8, 127):
            if line:
                line.pop()
                write("\x08 \x08")
            continue
        if c >= 32:
            line.append(c)
            write(chr(c))


def friendly_repl(globals_):
    _banner()
    write(">>> ")
    prompt = ""
    while True:
        try:
            line = _readline(prompt)
        except KeyboardInterrupt:
            line = _CTRL_C
        prompt = ">>> "
        if line == _CTRL_A:
            raw_repl(globals_)
            _banner()
            continue
        if line == _CTRL_B:
            write("\r\n")
            _banner()
            continue
        if line == _CTRL_D:
            write("\r\n")
            raise Reset(EXIT_SOFT_FRIENDLY)
        if line in (_CTRL_C, _CTRL_E) or not line.strip():
            continue
        source = line
        while source.rstrip().endswith(":") or (source.count("\n") and line.strip()):
            line = _readline("... ")
            if not isinstance(line, str):
                break
            source += "\n" + line
        e = _run(source + "\n", "single", globals_)
        if e is not None:
            sys.print_exception(e, _out)


# ---- boot --------------------------------------------------------------------------------------


def _mount_flash():
    flash = os.getenv(wire.ENV_FLASH)
    try:
        os.umount("/")
    except OSError:
        pass
    os.mount(os.VfsPosix(flash), "/")
    os.chdir("/")
    sys.path.clear()
    sys.path.extend(("", "/lib"))


def _announce(mode):
    # Tell the physical world we are alive: the USB serial comes up (host_tools/sim/console.py).
    import socket
    import struct

    path = os.getenv(wire.ENV_SOCK)
    if not path:
        return None
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(struct.pack("<H", socket.AF_UNIX) + path.encode() + bytes(1))
    s.write(wire.OP_BOOTED + (wire.BOOT_RAW if mode == "raw" else wire.BOOT_FRIENDLY))
    s.read(1)
    return s


def main():
    global _link
    mode = os.getenv(wire.ENV_MODE) or "friendly"
    _install_machine()
    _install_micropython()
    if os.getenv(wire.ENV_CTRL_C_PENDING):
        # A test's Ctrl-C lands as the firmware turns Ctrl-C off: loaded only then, so the
        # runtime costs the firmware's heap nothing more otherwise.
        sys.path.insert(0, __file__.rsplit("/", 1)[0])
        import pending_ctrl_c  # noqa: F401

        sys.path.pop(0)
    _link = _announce(mode)
    link = _link
    _mount_flash()
    _install_os()
    _install_flash_costs()
    globals_ = {"__name__": "__main__"}
    code = 0
    try:
        # ports/esp32/main.c mp_task: "if (pyexec_mode_kind == PYEXEC_MODE_FRIENDLY_REPL &&
        # ret != 0)": main.py runs only in friendly mode and only if boot.py did not fail (an
        # exception in boot.py, a Ctrl-C landing in it included, skips main.py); when main.py
        # ends, however it ends, the REPL follows.
        ok = _run_file("boot.py", globals_)
        if mode == "friendly":
            if ok:
                _run_file("main.py", globals_)
            friendly_repl(globals_)
        else:
            raw_repl(globals_)
            friendly_repl(globals_)
    except Reset as r:
        code = r.code
        if code in (EXIT_SOFT_RAW, EXIT_SOFT_FRIENDLY):
            # ESP32 ports print this exact line; mpremote waits for "soft reboot\r\n".
            write("MPY: soft reboot\r\n")
    if link:
        link.close()
    sys.exit(code)


main()
