"""After MicroPython is written: find the board again, wait for its REPL, put Earshot on it.

Native USB re-enumerates when the chip resets, possibly under a new device path: the board is
found again by its USB serial number.
"""

import time
from pathlib import Path

from ..errors import EarshotError
from ..link.serial_port import open_port
from .esptool_flow import answers_as_bootloader


def usb_serial_number(port):
    """The USB serial number behind `port`, to find it again if it re-enumerates."""
    try:
        from serial.tools import list_ports
    except ImportError:
        return None
    for p in list_ports.comports():
        if p.device == port:
            return p.serial_number
    return None


def find_port(port, serial_number):
    if Path(port).exists():
        return port
    if serial_number:
        from serial.tools import list_ports

        for p in list_ports.comports():
            if p.serial_number == serial_number:
                return p.device
    return None


def micropython_answers(port, timeout=0.5):
    """True if a MicroPython REPL answers Ctrl-C on `port`."""
    try:
        with open_port(port, timeout=timeout) as ser:
            ser.write(b"\r\x03\x03")
            return b">>>" in ser.read(256)
    except (EarshotError, OSError):
        return False


def wait_for_board(port, serial_number, timeout):
    """Wait until MicroPython answers again; returns the (possibly new) port path."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        current = find_port(port, serial_number)
        if current and micropython_answers(current):
            return current
        time.sleep(0.3)
    current = find_port(port, serial_number)
    if current and answers_as_bootloader(current):
        raise EarshotError("the board is still in download mode after flashing: release BOOT "
                           "(GPIO0), press RESET, then run `earshot flash ... --before no-reset` "
                           "again or `earshot deploy --port %s`" % current)
    raise EarshotError("MicroPython did not come back on %s within %.0f s: press RESET; with "
                       "native USB find its new path with `earshot ports`" % (port, timeout))


def deploy_and_verify(port, board_id, progress=None, file_progress=None):
    """Deploy the application, provision it, and read its version back; returns hello."""
    from ..board.deploy import deploy, interrupted
    from ..board.provision import provision
    from ..link.client import probe

    say = progress or (lambda msg: None)
    deploy(port, board_id, progress=progress, file_progress=file_progress)
    with interrupted("Earshot is deployed on %s but has no device id and key yet: `earshot "
                     "provision --port %s` gives it them" % (port, port)):
        device_id, key_file, _ = provision(port)
    say("provisioned %s; key kept in %s" % (device_id, key_file))
    info = probe(port, timeout=2.0)
    if not info or not info.get("version"):
        raise EarshotError("the application did not answer after provisioning on %s: run "
                           "`earshot status --port %s` to see why" % (port, port))
    return info
