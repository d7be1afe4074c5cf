"""Deploy: build the firmware for the board's CPU, copy it with mpremote, read the version back.

/data on the board (state, keys, the transparency log) is never touched. Only files that differ
from the board's copy are sent (a redeploy of the same firmware copies nothing and resets).

A locked board (docs/threat-model.md) refuses mpremote: its serial port speaks only the Earshot
protocol. Updating one takes a person at the board: hold both buttons while it starts, until the
status LED blinks white (unlocked until its next reset), then deploy. deploy() says so instead
of failing inside mpremote.
"""

import contextlib
import hashlib
import os
import shutil
import subprocess
import sys
import threading
import time

from ..errors import EarshotError, PortError, ProtocolError
from . import files
from .build import DEFAULT_WAKE_WORD, build, wake_word_model

UNLOCK_HINT = ("hold both buttons on the board while it starts (plug it in, or press its reset "
               "button) until the status LED blinks white, then run earshot deploy again")


def mpremote(port, *args, timeout=120):
    try:
        proc = subprocess.run([sys.executable, "-m", "mpremote", "connect", port, *args],
                              capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        # A locked board never shows mpremote a raw REPL prompt, and mpremote keeps waiting.
        return 1, "mpremote timed out after %ds: could not enter raw repl" % timeout
    return proc.returncode, proc.stdout + proc.stderr


def deploy(port, board_id="virtual", test_mode=False, verify=True, progress=None,
           file_progress=None, locked=False, named=None, wake_word=DEFAULT_WAKE_WORD):
    """Build, copy, reset, and read the version back. Returns the board's hello reply.
    `wake_word` names the one model the board loads (build.wake_word_model).

    progress(message) hears each step; file_progress(total) is a context manager yielding
    advance(name), called as each file lands on the board (cli.common.Progress.files).
    Ctrl-C (KeyboardInterrupt) comes out saying what state the board is left in and the command
    that recovers it; `named` is the port as the user gave it (sim:kitchen), for that command.
    """
    say = progress or (lambda msg: None)
    board = files.load(board_id)
    shown = named or port
    again = "earshot deploy --port %s --board %s%s%s" % (
        shown, board_id, " --locked" if locked else " --test-mode" if test_mode else "",
        "" if wake_word == DEFAULT_WAKE_WORD else " --wake-word %s" % wake_word)
    wake_word_model(wake_word)  # an unknown name fails before anything is built or copied
    with interrupted("nothing on %s was changed" % shown):
        check_target(port, board_id, say)  # before anything is built or copied
        say("compiling firmware for %s (mpy-cross)%s" % (board_id, ", locked" if locked else ""))
        out = build(board, test_mode, locked=locked, wake_word=wake_word)
    try:
        with interrupted("copying was cut short, so %s may have no Earshot firmware now (main.py "
                         "is copied last: it starts the MicroPython REPL, never half-new code); "
                         "`%s` finishes it" % (shown, again)):
            copy(port, out, say, file_progress)
    finally:
        shutil.rmtree(out, ignore_errors=True)
    if not verify:
        return None
    with interrupted("the firmware was copied and %s reset; `earshot status --port %s` shows "
                     "whether it runs (if not: `%s`)" % (shown, shown, again)):
        reply = wait_for_firmware(port, say)
    want = "locked" if locked else "developer"
    if reply.get("access", "developer") != want:
        raise EarshotError("deployed, but the board reports access %r, expected %r"
                           % (reply.get("access"), want))
    return reply


@contextlib.contextmanager
def interrupted(state):
    """Ctrl-C inside: KeyboardInterrupt again, now saying `state` (the board's, and what
    recovers it); the CLI prints it after "interrupted" and exits 130."""
    try:
        yield
    except KeyboardInterrupt as e:
        raise KeyboardInterrupt(str(e) or state) from None


def interrupt(port):
    """Ctrl-C at the firmware's console rate: on a USB-UART bridge mpremote's own Ctrl-C at
    115200 would arrive garbled while the firmware runs UART0 faster; the firmware's Ctrl-C path
    gives the REPL back at 115200 (hw.esp32 wdt_stop). Harmless on USB CDC and the virtual
    board, where the rate means nothing."""
    from ..link.serial_port import open_port

    try:
        with open_port(port) as ser:
            ser.write(b"\r\x03")
            ser.flush()
            time.sleep(0.2)
    except PortError as e:
        if e.kind in ("busy", "denied"):
            raise  # said in earshot's words, not as mpremote's "failed to access"
    except EarshotError:
        pass  # mpremote reports what else keeps it from the port


def check_target(port, board_id, say):
    """A board that answers as locked cannot be deployed to: say what the household must do.
    One whose firmware reports another board file gets the same refusal as `earshot hil`."""
    from ..link.client import probe

    reply = probe(port, timeout=1.0)
    if reply is None:
        return  # bare MicroPython, or a developer build busy: mpremote decides
    files.check_same_board(board_id, port, reply.get("board"), "runs Earshot deployed for")
    access = reply.get("access", "developer")
    if access == "locked":
        raise EarshotError("%s is locked (deployed with --locked): %s" % (port, UNLOCK_HINT))
    if access == "unlocked":
        say("board unlocked at the board: updating it")


# Run on the board by mpremote: every file outside /data with its SHA-256, and every directory,
# so a deploy copies only what changed (mpremote's own `cp` compares one file per round trip,
# which over a network serial port takes a second or more per file).
_LIST_FILES = """
import os, hashlib, binascii
def walk(d):
    for e in os.ilistdir(d):
        p = d.rstrip('/') + '/' + e[0]
        if e[1] == 0x4000:
            if p != '/data':
                print('D', p)
                walk(p)
            continue
        h = hashlib.sha256()
        with open(p, 'rb') as f:
            while True:
                b = f.read(512)
                if not b:
                    break
                h.update(b)
        print('F', p, binascii.hexlify(h.digest()).decode())
walk('/')
"""


def board_files(port):
    """({path: sha256 hex}, {directories}) on the board, outside /data."""
    code, text = mpremote(port, "exec", _LIST_FILES, timeout=60)
    if code and "could not enter raw repl" in text:
        raise EarshotError("%s does not let mpremote in (a locked board?): %s"
                           % (port, UNLOCK_HINT))
    if code:
        last = next((x for x in reversed(text.splitlines()) if x.strip()), "no output")
        raise EarshotError("listing the files on %s failed (mpremote: %s)" % (port, last))
    found, dirs = {}, set()
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[0] == "F":
            found[parts[1]] = parts[2]
        elif len(parts) == 2 and parts[0] == "D":
            dirs.add(parts[1])
    return found, dirs


def copy(port, image, say, file_progress=None, timeout=180):
    files_ = sorted(p for p in image.rglob("*") if p.is_file())
    # main.py goes last, so a copy cut short never boots new code with old modules.
    files_.sort(key=lambda p: p.relative_to(image).as_posix() == "main.py")
    local = {"/" + p.relative_to(image).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
             for p in files_}
    interrupt(port)
    on_board, dirs = board_files(port)
    # Stale modules from an older deploy must not shadow the new ones; a locked image has no
    # boot.py, and none may be left behind (a boot.py that fails makes MicroPython skip main.py).
    stale = sorted(path for path in on_board if path not in local and (
        path.startswith(("/earshot/", "/models/")) or path == "/boot.py"))
    changed = [p for p in files_ if on_board.get("/" + p.relative_to(image).as_posix())
               != local["/" + p.relative_to(image).as_posix()]]
    args = []
    if changed or stale:
        # main.py goes first and comes back last: a copy cut short boots nothing half-new.
        if "/main.py" in on_board:
            args += ["fs", "rm", ":main.py", "+"]
        main = image / "main.py"
        if main.exists() and main not in changed:
            changed.append(main)
        for path in stale:
            args += ["fs", "rm", ":" + path, "+"]
        for d in sorted({p.parent for p in changed if p.parent != image}):
            rel = "/" + d.relative_to(image).as_posix()
            if rel not in dirs:
                args += ["fs", "mkdir", ":" + rel, "+"]
        for p in changed:
            # --force: the board's copy is known to differ (or is gone); no hash round trip.
            args += ["fs", "cp", "-f", str(p), ":" + p.relative_to(image).as_posix(), "+"]
        say("copying %d of %d files to %s (mpremote; %d unchanged%s)" % (
            len(changed), len(files_), port, len(files_) - len(changed),
            ", %d stale removed" % len(stale) if stale else ""))
    else:
        say("%s already has these %d files: nothing to copy" % (port, len(files_)))
    args += ["reset"]
    # One mpremote session for all files (one raw-REPL entry); it prints a `cp SRC :DEST` line
    # as it copies each file, which is our per-file progress.
    with (file_progress or _no_progress)(len(changed)) as advance:
        code, lines = mpremote_lines(port, args, timeout, lambda line: advance(
            line.split(":")[-1].strip()) if line.startswith("cp ") else None)
    if code:
        last = next((x for x in reversed(lines) if x), "no output")
        raise EarshotError("copying to %s failed (mpremote: %s)" % (port, last))


def mpremote_lines(port, args, timeout, on_line):
    """One mpremote session, on_line(line) for each line it prints; (exit status, lines). Past
    `timeout` it is killed; so is it on Ctrl-C, whenever that lands, and no timer outlives the
    call. (The timer was a non-daemon thread started outside the try: a Ctrl-C while start()
    waited for it to run, the moment `deploy: copying` is printed, left it armed, and earshot
    said "interrupted" but could not exit until it fired 180 s later: seen once in a fresh-clone
    run of the suite on a busy machine.)"""
    lines, timer = [], None
    proc = subprocess.Popen([sys.executable, "-m", "mpremote", "connect", port, *args],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env=dict(os.environ, PYTHONUNBUFFERED="1"))
    try:
        timer = threading.Timer(timeout, proc.kill)
        timer.daemon = True  # never what keeps the interpreter from exiting
        timer.start()
        for line in proc.stdout:
            lines.append(line.strip())
            on_line(line)
        return proc.wait(), lines
    finally:
        if timer is not None:
            timer.cancel()
        if proc.poll() is None:  # interrupted: nothing may go on writing to the board
            proc.kill()
            proc.wait()


class _no_progress:
    def __init__(self, total):
        pass

    def __enter__(self):
        return lambda name: None

    def __exit__(self, *exc):
        return False


def wait_for_firmware(port, say, timeout=15, expect_version=True):
    """Wait until the firmware answers; with expect_version, with the version this earshot
    ships (after a deploy). Returns the board's hello reply."""
    from ..link.client import Client
    from ..resources import firmware_version

    if expect_version:
        say("verifying: reading the version back over the Earshot protocol")
    expected = firmware_version() if expect_version else None
    deadline = time.monotonic() + timeout
    last_error = None
    while time.monotonic() < deadline:
        try:
            with Client(port, timeout=1.0) as b:
                reply = b.hello()
            break
        except ProtocolError as e:
            last_error = e
            time.sleep(0.3)
    else:
        raise EarshotError("%sthe firmware did not answer: %s"
                           % ("deployed, but " if expect_version else "", last_error))
    if expected and reply.get("version") != expected:
        raise EarshotError("board reports firmware %s after deploy, expected %s"
                           % (reply.get("version"), expected))
    say("firmware %s running on %s (%s%s)" % (reply.get("version"), port, reply.get("board"),
                                              ", locked" if reply.get("access") == "locked"
                                              else ""))
    return reply
