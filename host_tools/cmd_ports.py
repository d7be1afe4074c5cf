"""`earshot ports`: serial ports, what sits behind each, and which answer as an Earshot board.

The probe never blocks on a port another program holds: the port is first opened exclusively
with a short timeout, and a busy port is reported as busy. Probes run in parallel, so the
whole listing takes about one probe timeout.
"""

import json
from concurrent.futures import ThreadPoolExecutor

from .errors import EarshotError

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


def setup(parser):
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.add_argument("--no-probe", action="store_true",
                        help="only list ports, do not ask them whether they are Earshot boards")


def usb_kind(vid, pid):
    if vid is None:
        return None
    return USB_KINDS.get((vid, pid)) or USB_KINDS.get((vid, None))


def _probe_function():
    try:
        from .client import probe
    except ImportError:
        return None
    return probe


def probe_port(device, probe):
    """'earshot' + info, 'no', 'busy', 'denied' or 'error' for one port; never blocks long."""
    import serial

    try:
        # Exclusive open fails at once if someone else holds the port.
        serial.serial_for_url(device, exclusive=True, timeout=PROBE_TIMEOUT).close()
    except (serial.SerialException, OSError) as e:
        text = str(e)
        if "Permission denied" in text:
            return {"state": "denied"}
        if "lock" in text.lower() or "busy" in text.lower():
            return {"state": "busy"}
        return {"state": "error", "error": text.splitlines()[0][:80]}
    if probe is None:
        return {"state": "unknown"}
    try:
        info = probe(device, timeout=PROBE_TIMEOUT)
    except Exception as e:  # a probe must not take the listing down with it
        return {"state": "error", "error": str(e).splitlines()[0][:80] if str(e) else type(e).__name__}
    return {"state": "earshot", "info": info} if info else {"state": "no"}


def list_ports(probe=True):
    from serial.tools import list_ports as lp

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
    if probe and ports:
        fn = _probe_function()
        with ThreadPoolExecutor(max_workers=min(16, len(ports))) as pool:
            results = pool.map(lambda port: probe_port(port["port"], fn), ports)
            for port, result in zip(ports, results):
                port["earshot"] = result
    return ports


def _earshot_column(result):
    state = result["state"]
    if state == "earshot":
        info = result.get("info") or {}
        details = " ".join(str(info[k]) for k in ("board", "version") if info.get(k))
        return "EARSHOT " + details if details else "EARSHOT"
    return {"no": "-", "busy": "busy (in use)", "denied": "permission denied",
            "unknown": "? (no probe in this build)"}.get(state, "error: %s" % result.get("error"))


def run(args):
    try:
        ports = list_ports(probe=not args.no_probe)
    except ImportError:
        raise EarshotError("pyserial is missing: pip install pyserial") from None
    if args.json:
        print(json.dumps(ports, indent=2))
        return 0
    if not ports:
        print("no serial ports found: plug a board in (a data cable, not a charge-only one)")
        return 0
    rows = [("PORT", "VID:PID", "KIND", "DESCRIPTION", "" if args.no_probe else "EARSHOT")]
    for p in ports:
        rows.append((p["port"], p["vid_pid"] or "-", p["kind"] or "-", p["description"] or "-",
                     "" if args.no_probe else _earshot_column(p["earshot"])))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for r in rows:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip())
    if any(p["earshot"]["state"] == "denied" for p in ports if "earshot" in p):
        print("some ports are not readable: join the 'dialout' group (or 'uucp' on Arch), "
              "then log in again")
    return 0
