"""The port comes back: after a reset the board is found again and the tools carry on.

Every reset of an ESP32-S3 on native USB re-enumerates it, and on Linux the node can change
(/dev/ttyACM0 -> /dev/ttyACM1). `earshot sim --renumerate` does the same to the virtual board's
pseudo-terminal. `earshot monitor` and `earshot record` find the same board again
(host_tools/link/again.py: by USB serial number, or the virtual board's name) and say so.
"""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from host_tools.link.again import Whereabouts

EARSHOT = str(Path(sys.executable).with_name("earshot"))
pytestmark = pytest.mark.xdist_group("renumerating-sim")


def earshot(*args, cwd, timeout=180):
    return subprocess.run([EARSHOT, *args], capture_output=True, text=True, timeout=timeout,
                          cwd=cwd)


def ok(r):
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-2000:]
    return r.stdout


@pytest.fixture(scope="module")
def hall(tmp_path_factory):
    """`earshot sim --name hall --renumerate`, deployed and provisioned."""
    home = tmp_path_factory.mktemp("home")
    work = tmp_path_factory.mktemp("work")
    env_home = os.environ.get("EARSHOT_HOME")
    os.environ["EARSHOT_HOME"] = str(home)
    sim = subprocess.Popen([EARSHOT, "sim", "--name", "hall", "--renumerate"],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=work)
    try:
        port = sim.stdout.readline().split()[1]
        ok(earshot("deploy", "--board", "virtual", "--port", "sim:hall", cwd=work))
        ok(earshot("provision", "--port", "sim:hall", "--device-id", "hall", cwd=work))
        yield SimpleNamespace(port=port, work=work, key=work / "keys" / "hall.key")
    finally:
        sim.terminate()
        sim.wait(30)
        if env_home is None:
            os.environ.pop("EARSHOT_HOME", None)
        else:
            os.environ["EARSHOT_HOME"] = env_home


@pytest.fixture(autouse=True)
def earshot_home():
    """This module's board lives in the hall fixture's home, not one per test."""


def current_port(hall):
    from host_tools.link.target import resolve

    return resolve("sim:hall").port


def follow(hall, *args, until, stop=signal.SIGINT):
    """Start `earshot <args> --port sim:hall` as a household runs it (until it is stopped);
    cycle the power once it listens, press mute once it says it found the board again, and
    stop it (`stop`: Ctrl-C, or a service manager's SIGTERM) once `until` is in its output."""
    import threading

    proc = subprocess.Popen([EARSHOT, *args, "--port", "sim:hall"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, cwd=hall.work)
    lines = [proc.stdout.readline()]
    reader = threading.Thread(target=lambda: lines.extend(proc.stdout), daemon=True)
    try:
        before, after = _cycle_power_and_wait_for_a_new_name(hall)
        reader.start()

        def wait_for(text):
            deadline = time.monotonic() + 60
            while text not in "".join(lines):
                assert proc.poll() is None and time.monotonic() < deadline, "".join(lines)
                time.sleep(0.1)

        wait_for("found it again")
        ok(earshot("press", "mute", "--port", "sim:hall", cwd=hall.work))  # something to report
        wait_for(until)
        proc.send_signal(stop)
        proc.wait(60)
        reader.join(10)  # the reader has stdout to its end; stderr is read here
        err = proc.stderr.read()
    finally:
        proc.kill()
    return proc.returncode, "".join(lines), err, before, after


def test_monitor_finds_the_board_again_under_its_new_port_and_carries_on(hall):
    code, out, err, before, after = follow(hall, "monitor", until="muted -> unmuted")
    assert code == 130 and err == "earshot: interrupted\n", err  # Ctrl-C is how it stops
    assert "%s went away" % before in out and "found it again at %s" % after in out, out
    tail = out.split("found it again", 1)[1]
    assert "mute" in tail and "muted -> unmuted" in tail  # events after the reset still shown


def test_monitor_with_seconds_stops_by_itself_and_exits_0(hall):
    r = earshot("monitor", "--port", "sim:hall", "--seconds", "1", cwd=hall.work, timeout=60)
    assert r.returncode == 0 and r.stdout.startswith("monitoring "), r.stdout + r.stderr


def test_record_finds_the_board_again_and_keeps_recording(hall, tmp_path):
    code, out, err, before, after = follow(hall, "record", "--out", str(tmp_path / "rec"),
                                           "--key-file", str(hall.key), until="found it again",
                                           stop=signal.SIGTERM)
    assert code == 0, err
    assert "%s went away" % before in out and "found it again at %s" % after in out, out


def test_a_board_on_usb_is_found_by_its_serial_number_under_another_node(tmp_path):
    # The ROM's USB-Serial/JTAG and MicroPython's CDC spell the chip's MAC differently.
    node0, node1 = tmp_path / "ttyACM0", tmp_path / "ttyACM1"
    node0.touch()

    def port(device, serial, vid=0x303A):
        return SimpleNamespace(device=str(device), serial_number=serial, vid=vid)

    where = Whereabouts.of(str(node0), ports=[port(node0, "F4:12:FA:01:02:03")])
    assert where.serial == "f412fa010203"
    node0.unlink()
    assert where.locate([port(tmp_path / "ttyACM7", "deadbeef0000")]) is None  # another board
    assert where.find(1, ports=[port(node1, "f412fa010203")]) == str(node1)
    assert where.port == str(node1)


def _cycle_power_and_wait_for_a_new_name(hall):
    before = current_port(hall)
    ok(earshot("power", "cycle", "--port", "sim:hall", cwd=hall.work))
    deadline = time.monotonic() + 30
    while current_port(hall) == before and time.monotonic() < deadline:
        time.sleep(0.1)
    after = current_port(hall)
    assert after != before, "the board came back under the same name"
    return before, after


def test_the_bridge_finds_the_board_again_and_home_assistant_may_connect_to_it(hall):
    # Home Assistant's satellite must come back by itself after the board resets on a new
    # port: the bridge looks for the same board (host_tools/link/again.py) and offers it again.
    from tests.household import Earshot
    from tests.test_bridge_wyoming import Peer, free_port

    wyoming = free_port()
    bridge = Earshot("bridge", "--port", "sim:hall", "--wyoming", "tcp://127.0.0.1:%d" % wyoming,
                     "--key-file", str(hall.key), env={"EARSHOT_STATE_DIR": str(hall.work)})
    peer = None
    try:
        bridge.wait_line(r"wyoming: pipeline")
        before, after = _cycle_power_and_wait_for_a_new_name(hall)
        bridge.wait_line(r"REFUSED the board is gone", timeout=30)
        bridge.wait_line(r"the board answers again: Home Assistant may connect", timeout=60)
        peer = Peer(wyoming)
        assert peer.info.satellite is not None
        # The bridge holds the board at its new node: another command reaches the board
        # through it (link/share.py), and what it reports is the board after its reset.
        status = ok(earshot("status", "--port", "sim:hall", "--json", cwd=hall.work))
        assert '"device_id": "hall"' in status, status
    finally:
        if peer is not None:
            peer.close()
        assert bridge.stop() == 0, bridge.output


def test_the_dashboard_finds_the_board_again_and_shows_it_connected(hall):
    from tests.household import Earshot, wait_event

    page = Earshot("dashboard", "--port", "sim:hall", "--bind", "127.0.0.1:0",
                   "--key-file", str(hall.key), env={"EARSHOT_STATE_DIR": str(hall.work)})
    try:
        url = page.wait_line(r"dashboard: (http://\S+)").group(1)
        wait_event(url, lambda k, d: k == "state" and d["link"]["state"] == "up",
                   "the board connected")
        _cycle_power_and_wait_for_a_new_name(hall)
        # The page shows the board gone, then connected again, with no one restarting anything.
        seen = []

        def down_then_up(kind, data):
            if kind != "state":
                return False
            seen.append(data["link"]["state"])
            return seen[-1] == "up" and any(s != "up" for s in seen)

        wait_event(url, down_then_up, "the board again after its reset", timeout=60)
    finally:
        assert page.stop() == 0, page.output
