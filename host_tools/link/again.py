"""Finding the same board again after its port went away.

Every reset of an ESP32-S3 on native USB takes its serial port with it: the ROM's USB-Serial/JTAG
enumerates first, then MicroPython's TinyUSB CDC (from v1.27 only after boot.py has run), and on
Linux the device node can come back under another name (/dev/ttyACM0 -> /dev/ttyACM1). So a
tool that follows a board remembers *which board* it is, not the node:

- a board on USB: its USB serial number (both the ROM's USB-Serial/JTAG and MicroPython's CDC
  report the chip's MAC there, in different spellings: only the hex digits are compared), plus
  the vendor id; a device with no serial number is looked for under the same node only;
- a virtual board (`--port sim:NAME`): its registration, which `earshot sim --renumerate`
  republishes with the new pseudo-terminal;
- a URL (socket://, rfc2217://): the same URL.

    where = Whereabouts.of(port_spec)        # while the board is there
    port = where.find(timeout=30)            # after the port went away: its node now
"""

import os
import time
from dataclasses import dataclass

from ..errors import EarshotError, PortError
from .target import is_sim, resolve

POLL_S = 0.2


def _hex(text):
    return "".join(c for c in (text or "").lower() if c in "0123456789abcdef")


def _usb_ports():
    from serial.tools import list_ports

    return list(list_ports.comports())


@dataclass
class Whereabouts:
    spec: str  # what the user gave (--port)
    port: str  # the node it resolved to last
    serial: str = ""  # USB serial number, hex digits only ("" when there is none)
    vid: int | None = None

    @classmethod
    def of(cls, spec, ports=None):
        """Remember the board `spec` names, as it is now."""
        port = resolve(spec).port
        if is_sim(spec) or "://" in port:
            return cls(spec, port)
        real = os.path.realpath(port)
        if real.startswith("/dev/pts/"):
            return cls(spec, port)  # a pseudo-terminal is no USB device: nothing to scan
        for p in ports if ports is not None else _usb_ports():
            if os.path.realpath(p.device) == real and p.serial_number:
                return cls(spec, port, _hex(p.serial_number), p.vid)
        return cls(spec, port)

    @property
    def how(self):
        if is_sim(self.spec):
            return "virtual board %s" % self.spec
        if self.serial:
            return "USB serial number %s" % self.serial
        return "port %s" % self.port

    def locate(self, ports=None):
        """The node the board is at now, or None if it is not back."""
        if is_sim(self.spec):
            try:
                port = resolve(self.spec).port
            except EarshotError:
                return None
            return port if os.path.exists(port) else None
        if "://" in self.port:
            return self.port
        if self.serial:
            for p in ports if ports is not None else _usb_ports():
                if _hex(p.serial_number) == self.serial and (self.vid is None or p.vid == self.vid):
                    return p.device
            return None
        return self.port if os.path.exists(self.port) else None

    def find(self, timeout=30.0, ports=None):
        """Wait until the board is back; its node (remembered), or PortError."""
        deadline = time.monotonic() + timeout
        while True:
            port = self.locate(ports() if callable(ports) else ports)
            if port is not None:
                self.port = port
                return port
            if time.monotonic() >= deadline:
                raise PortError("%s did not come back within %g s (looked for its %s): is it "
                                "plugged in and running? earshot ports lists what is there"
                                % (self.port, timeout, self.how), "missing")
            time.sleep(POLL_S)


def reconnect(client, where, say, timeout=30.0):
    """After `client`'s port went away: find the board again, open it, greet it; return the
    firmware's hello reply. Says what happened (`say`: one line each)."""
    from ..errors import ProtocolError

    old = client.port
    client.close()
    say("%s went away (the board reset or was unplugged): looking for it again by its %s"
        % (old, where.how))
    deadline = time.monotonic() + timeout
    while True:
        port = where.find(max(0.1, deadline - time.monotonic()))
        client.port = port
        try:
            status = client.hello()
        except (PortError, ProtocolError):
            client.close()
            if time.monotonic() >= deadline:
                raise PortError("%s came back at %s but its firmware does not answer" % (
                    where.spec, port), "missing") from None
            time.sleep(POLL_S)
            continue
        say("found it again%s: carrying on" % (" at %s" % port if port != old else ""))
        return status
