"""Serial ports on this machine: what sits behind each, and which answer as an Earshot board.

The probe never blocks on a port another program holds: the port is first opened exclusively
with a short timeout, and a busy port is reported as busy. Probes run in parallel, so the
whole listing takes about one probe timeout.
"""

from concurrent.futures import ThreadPoolExecutor

from ..errors import PortError
from . import client
from .serial_port import open_port

PROBE_TIMEOUT = 0.3

# (VID, PID) -> what it is; PID None matches any product of that vendor. Espressif's own
# VID means native USB: the chip itself, no bridge in between.
USB_KINDS = {
    (0x303A, 0x1001): "Espressif native USB (USB-Serial/JTAG)",
    (0x303A, 0x0009): "Espressif native USB (ESP32-S3 USB-OTG download mode)",
    (0x303A, None): "Espressif native USB",
    (0x10C4, 0xEA60): "CP210x USB-UART bridge",
    (0x10C4, None): "Silicon Labs USB-UART bridge",
    (0x1A86, 0x7523): "CH340 USB-UART bridge",
    (0x1A86, 0x55D4): "CH9102 USB-UART bridge",
    (0x1A86, None): "WCH CH34x USB-UART bridge",
    (0x0403, None): "FTDI USB-UART bridge",
}


def usb_kind(vid, pid):
    if vid is None:
        return None
    return USB_KINDS.get((vid, pid)) or USB_KINDS.get((vid, None))


def probe_port(device, probe):
    """'earshot' + info, 'no', 'busy', 'denied' or 'error' for one port; never blocks long."""
    try:
        # Exclusive open fails at once if someone else holds the port.
        open_port(device, timeout=PROBE_TIMEOUT).close()
    except PortError as e:
        if e.kind == "busy":
            return _shared(device, probe) or {"state": "busy"}
        if e.kind == "denied":
            return {"state": e.kind}
        return {"state": "error", "error": str(e)[:80]}
    if probe is None:
        return {"state": "unknown"}
    try:
        info = probe(device, timeout=PROBE_TIMEOUT)
    except Exception as e:  # a probe must not take the listing down with it
        return {"state": "error", "error": str(e).splitlines()[0][:80] if str(e) else type(e).__name__}
    return {"state": "earshot", "info": info} if info else {"state": "no"}


def _shared(device, probe):
    """A busy port that an earshot process holds and shares (link/share.py): the board,
    asked through that process, and who has it; None if no earshot process shares it."""
    from . import share

    found = share.owners_of(device)
    if not found:
        return None
    held = {"owner": found[0].get("owner"), "pid": found[0].get("pid")}
    if probe is None:
        return {"state": "shared", "shared_by": held}
    share._noted.add(device)  # the listing says it; no extra stderr line
    try:
        answer = probe(device, timeout=2.0)  # a round trip through the owner
    except Exception:  # a probe must not take the listing down with it
        answer = None
    if answer:
        return {"state": "earshot", "info": answer, "shared_by": held}
    return {"state": "shared", "shared_by": held}


def list_ports(probe=True):
    """Serial ports (pyserial's list) and the running virtual boards (earshot sim)."""
    from serial.tools import list_ports as lp

    from ..sim.runs import DEFAULT_NAME, running

    ports = []
    for p in sorted(lp.comports(), key=lambda p: p.device):
        ports.append({
            "port": p.device,
            "vid_pid": "%04x:%04x" % (p.vid, p.pid) if p.vid is not None else None,
            "kind": usb_kind(p.vid, p.pid),
            "espressif_native": p.vid == 0x303A,
            "description": p.description if p.description != "n/a" else "",
            "serial_number": p.serial_number,
        })
    for sim in running():
        ports.append({
            "port": sim["port"], "vid_pid": None, "kind": "Earshot virtual board",
            "espressif_native": False, "serial_number": None, "sim": "sim:" + sim["name"],
            "description": "earshot sim --name %s (pid %s): --port %s" % (
                sim["name"], sim["pid"],
                "sim" if sim["name"] == DEFAULT_NAME else "sim:" + sim["name"]),
        })
    if probe and ports:
        fn = client.probe
        with ThreadPoolExecutor(max_workers=min(16, len(ports))) as pool:
            results = pool.map(lambda port: probe_port(port["port"], fn), ports)
            for port, result in zip(ports, results):
                port["earshot"] = result
    return ports
