"""`earshot ports`: marks what is behind each port and which ones are Earshot boards."""

import json
import os
import time
import tty

import pytest
import serial
from serial.tools import list_ports
from serial.tools.list_ports_common import ListPortInfo

from host_tools.link import client, ports as port_listing
from host_tools.cli import main


def fake_port(device, vid=None, pid=None, description="n/a"):
    info = ListPortInfo(device, skip_link_detection=True)
    info.vid, info.pid, info.description = vid, pid, description
    return info


@pytest.fixture
def ptys():
    """Three real pseudo-terminals to stand in for serial devices."""
    pairs = [os.openpty() for _ in range(3)]
    for _, slave in pairs:
        tty.setraw(slave)
    yield [os.ttyname(s) for _, s in pairs]
    for m, s in pairs:
        os.close(m)
        os.close(s)


@pytest.fixture
def fake_client(monkeypatch):
    calls = []

    def probe(port, timeout):
        calls.append((port, timeout))
        return {"board": "xiao-esp32s3-sense", "version": "0.1.0"} if port.endswith("0") or \
            probe.earshot == port else None

    probe.earshot = None
    monkeypatch.setattr(client, "probe", probe)
    return probe, calls


def test_ports_marks_native_usb_bridges_and_earshot_boards(monkeypatch, ptys, fake_client, capsys):
    probe, calls = fake_client
    probe.earshot = ptys[0]
    monkeypatch.setattr(list_ports, "comports", lambda: [
        fake_port(ptys[0], 0x303A, 0x1001, "USB JTAG/serial debug unit"),
        fake_port(ptys[1], 0x10C4, 0xEA60, "CP2102N USB to UART Bridge Controller"),
        fake_port(ptys[2], 0x1A86, 0x55D4, "USB Single Serial"),
    ])
    assert main(["ports", "--json"]) == 0
    ports = {p["port"]: p for p in json.loads(capsys.readouterr().out)}
    first, second, third = (ports[p] for p in ptys)
    assert first["vid_pid"] == "303a:1001" and first["espressif_native"]
    assert first["kind"] == "Espressif native USB (USB-Serial/JTAG)"
    assert first["earshot"] == {"state": "earshot",
                                "info": {"board": "xiao-esp32s3-sense", "version": "0.1.0"}}
    assert second["kind"] == "CP210x USB-UART bridge" and second["earshot"]["state"] == "no"
    assert third["kind"] == "CH9102 USB-UART bridge" and not third["espressif_native"]
    assert all(timeout <= 0.3 for _, timeout in calls)


def test_busy_port_is_reported_not_waited_on(monkeypatch, ptys, fake_client, capsys):
    monkeypatch.setattr(list_ports, "comports", lambda: [fake_port(p) for p in ptys[1:]])
    with serial.Serial(ptys[1], exclusive=True):
        start = time.monotonic()
        assert main(["ports"]) == 0
        assert time.monotonic() - start < 2
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["PORT", "VID:PID", "KIND", "DESCRIPTION", "EARSHOT"]
    busy = next(line for line in lines if line.startswith(ptys[1]))
    assert busy.endswith("busy (in use)")
    assert fake_client[1] == [(ptys[2], 0.3)]  # the busy port was never probed


def test_no_ports_says_what_to_check(monkeypatch, capsys):
    monkeypatch.setattr(list_ports, "comports", lambda: [])
    assert main(["ports"]) == 0
    assert "plug a board in" in capsys.readouterr().out


def test_usb_kind_table():
    assert port_listing.usb_kind(0x303A, 0x4001) == "Espressif native USB"
    assert port_listing.usb_kind(0x1A86, 0x7523) == "CH340 USB-UART bridge"
    assert port_listing.usb_kind(0x1234, 0x5678) is None and port_listing.usb_kind(None, None) is None


def test_a_raw_tcp_port_says_how_many_bytes_wait_so_the_client_reads_them_at_once():
    # pyserial's socket:// said 1 whenever anything waited, and the client read what waited:
    # a session's audio through a raw ser2net export was read one byte per call.
    import socket
    import threading

    from host_tools.link.serial_port import open_port

    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)
    sent = threading.Event()

    def serve():
        conn, _ = srv.accept()
        conn.recv(1)  # once the port is open (opening discards what came before it)
        conn.sendall(b"x" * 5000)
        sent.set()
        conn.recv(1)  # until the port is closed

    threading.Thread(target=serve, daemon=True).start()
    port = open_port("socket://127.0.0.1:%d" % srv.getsockname()[1])
    try:
        port.write(b"?")
        assert sent.wait(10)
        deadline = time.monotonic() + 10
        while port.in_waiting < 5000 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert port.in_waiting == 5000
        assert len(port.read(port.in_waiting)) == 5000
    finally:
        port.close()
        srv.close()
