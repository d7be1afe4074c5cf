"""The one place that opens a serial port, and the one translation of its errors.

Ports are pyserial URLs (`serial_for_url`): a device path, `socket://host:port`,
`rfc2217://host:port`. The port is opened exclusively, so a second program fails at once
instead of stealing bytes. Every way opening can fail becomes a PortError with a one-line fix.
"""

import errno
import grp
import os

from ..errors import PortError

# The rate the firmware runs UART0 at (every esp32 board file's console.uart_baud; the firmware
# raises it at boot so a session fits the serial line, docs/protocol.md). USB CDC ignores it; a
# USB-UART bridge needs it. The REPL before the firmware starts, and after Ctrl-C, is at 115200
# (REPL_BAUD), which is what mpremote uses.
BAUD = 921600
REPL_BAUD = 115200


def open_port(port, baud=BAUD, timeout=0.05):
    """An open pyserial port object for `port`, or PortError."""
    import serial

    try:
        if port.startswith("socket://"):
            ser = _socket_serial()(None, baudrate=baud, timeout=timeout, exclusive=True)
            ser.port = port
            ser.open()
            return ser
        return serial.serial_for_url(port, baudrate=baud, timeout=timeout, exclusive=True)
    except (serial.SerialException, OSError, ValueError) as e:
        raise translate(port, e) from None


def _socket_serial():
    """pyserial's socket:// port, with `in_waiting` the bytes the socket holds. pyserial's own
    says 1 whenever any byte is there (serial/urlhandler/protocol_socket.py in_waiting: a
    select), so a reader that asks for what is waiting took a session's audio one byte per
    read: a raw TCP serial port (ser2net) cost more CPU than RFC 2217."""
    import array
    import fcntl
    import termios

    from serial.urlhandler.protocol_socket import Serial

    class SocketSerial(Serial):
        @property
        def in_waiting(self):
            if not self.is_open:
                return super().in_waiting  # PortNotOpenError
            n = array.array("i", [0])
            fcntl.ioctl(self._socket.fileno(), termios.FIONREAD, n)  # Linux: SIOCINQ
            return n[0]

    return SocketSerial


def translate(port, e):
    """The PortError for an exception pyserial raised while opening `port`."""
    code = getattr(e, "errno", None)
    text = " ".join(str(e).split())
    netloc = port.split("://", 1)[1].split("?", 1)[0].split("/", 1)[0] if "://" in port else ""
    host, _, number = netloc.rpartition(":")
    url_error = (isinstance(e, ValueError) or "invalid URL" in text
                 or ("://" in port and not (host and number.isdigit())))
    network = bool(netloc) and not url_error  # a well-formed socket:// or rfc2217:// URL
    if network and not 0 < int(number) <= 65535:
        # pyserial's socket:// says only "'debug|info|warning|error'" for this
        return PortError("%s: TCP port %s is out of range: give HOST:PORT with a port from 1 "
                         "to 65535" % (port, number), "invalid")
    if code == errno.EISDIR:
        return PortError("%s is a directory, not a serial port: give a device path "
                         "(/dev/ttyACM0) or a URL; `earshot ports` lists them" % port, "invalid")
    if network and ("not known" in text or "failure in name resolution" in text):
        return PortError("cannot open %s: no host named %r (check the name, or use its IP "
                         "address)" % (port, host), "missing")
    if network and ("Connection refused" in text or "timed out" in text):
        return PortError("cannot open %s: nothing answers at %s (is the exporter, ser2net or "
                         "earshot sim running?)" % (port, netloc), "missing")
    if "Inappropriate ioctl" in text:
        return PortError("%s is not a serial port (a regular file or another device): give a "
                         "device path (/dev/ttyACM0) or a URL; `earshot ports` lists them"
                         % port, "invalid")
    if url_error or "not known" in text:
        return PortError("%s is not a port: give a device path (/dev/ttyACM0) or a URL "
                         "(socket://HOST:PORT, rfc2217://HOST:PORT); `earshot ports` lists "
                         "them" % port, "invalid")
    if code == errno.EACCES or "Permission denied" in text:
        group = _port_group(port)
        return PortError("permission denied on %s: join the '%s' group (sudo usermod -aG %s "
                         "$USER), then log out and in again" % (port, group, group), "denied")
    if code in (errno.EBUSY, errno.EAGAIN) or "busy" in text.lower() or "lock" in text.lower():
        return PortError("%s is busy: another program (mpremote, a monitor, esptool, another "
                         "earshot) has it open; close it and try again" % port, "busy")
    if code == errno.ENOENT or "No such file" in text or "could not open" in text:
        return PortError("cannot open %s: no such port (list them with: earshot ports)" % port,
                         "missing")
    return PortError("cannot open %s: %s" % (port, text), "other")


def _port_group(port):
    try:
        return grp.getgrgid(os.stat(port).st_gid).gr_name
    except (OSError, KeyError):
        return "dialout"
