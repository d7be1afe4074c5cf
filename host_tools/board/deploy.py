"""Deploy: build the firmware for the board's CPU, copy it with mpremote, read the version back.

/data on the board (state, keys, the transparency log) is never touched.
"""

import shutil
import subprocess
import sys
import time

from ..errors import EarshotError, ProtocolError
from . import files
from .build import build


def mpremote(port, *args, timeout=120):
    proc = subprocess.run([sys.executable, "-m", "mpremote", "connect", port, *args],
                          capture_output=True, text=True, timeout=timeout)
    return proc.returncode, proc.stdout + proc.stderr


def deploy(port, board_id="virtual", test_mode=False, verify=True, progress=None):
    """Build, copy, reset, and read the version back. Returns the board's hello reply."""
    say = progress or (lambda msg: None)
    board = files.load(board_id)
    say("compiling firmware for %s (mpy-cross)" % board_id)
    out = build(board, test_mode)
    try:
        copy(port, out, say)
    finally:
        shutil.rmtree(out, ignore_errors=True)
    if not verify:
        return None
    return wait_for_firmware(port, say)


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
    except EarshotError:
        pass  # mpremote reports a port it cannot open, in its own words


def copy(port, image, say):
    files_ = sorted(p for p in image.rglob("*") if p.is_file())
    say("copying %d files to %s (mpremote)" % (len(files_), port))
    interrupt(port)
    # Stale modules from an older deploy must not shadow the new ones.
    mpremote(port, "rm", "-r", ":earshot")
    mpremote(port, "rm", "-r", ":models")
    args = []
    for d in sorted({p.parent for p in files_ if p.parent != image}):
        args += ["fs", "mkdir", ":" + str(d.relative_to(image)), "+"]
    for p in files_:
        args += ["fs", "cp", str(p), ":" + str(p.relative_to(image)), "+"]
    args += ["reset"]
    code, text = mpremote(port, *args)
    if code:
        last = text.strip().splitlines()[-1] if text.strip() else "no output"
        raise EarshotError("copying to %s failed (mpremote: %s)" % (port, last))


def wait_for_firmware(port, say, timeout=15):
    """Wait until the deployed firmware answers with the version this earshot ships."""
    from ..link.client import Client
    from ..resources import firmware_version

    say("verifying: reading the version back over the Earshot protocol")
    expected = firmware_version()
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
        raise EarshotError("deployed, but the firmware did not answer: %s" % last_error)
    if reply.get("version") != expected:
        raise EarshotError("board reports firmware %s after deploy, expected %s"
                           % (reply.get("version"), expected))
    say("firmware %s running on %s (%s)" % (expected, port, reply.get("board")))
    return reply
