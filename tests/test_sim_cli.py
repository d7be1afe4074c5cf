"""A virtual board driven from the terminal: `earshot sim` in one process, the household's
`earshot press/play/pins/power` and the board commands in others (--port sim[:NAME])."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from host_tools.hil.fixtures import connect
from host_tools.hil.runner import interruptible
from host_tools.resources import audio
from host_tools.sim.runs import MARKER

EARSHOT = str(Path(sys.executable).with_name("earshot"))


def earshot(*args, timeout=180):
    r = subprocess.run([EARSHOT, *args], capture_output=True, text=True, timeout=timeout)
    assert r.returncode == 0, (args, r.stderr)
    return r.stdout


def read_until(proc, texts, timeout=120):
    """Lines of `proc`'s stdout until every one of `texts` was in them (or `timeout` host
    seconds: a generous bound for a loaded machine, not a measure of the board)."""
    import threading

    lines, found = [], threading.Event()

    def read():
        for line in proc.stdout:
            lines.append(line)
            if all(t in "".join(lines) for t in texts):
                found.set()
                return

    threading.Thread(target=read, daemon=True).start()
    found.wait(timeout)
    return "".join(lines)


def start_sim(tmp_path, image, name):
    flash = tmp_path / name
    flash.mkdir()
    (flash / MARKER).write_text("{}")
    shutil.copytree(image, flash / "fs")  # the firmware already deployed: no mpremote here
    sim = subprocess.Popen([EARSHOT, "sim", "--name", name, "--flash", str(flash)],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines = [sim.stdout.readline() for _ in range(4)]
    assert lines[0].startswith("serial: /dev/pts/") and "running:" in lines[3], lines
    return sim, lines[0].split()[1]


def test_two_named_boards_are_reached_by_name_and_acted_on_from_the_terminal(
        tmp_path, firmware_image):
    kitchen, kitchen_port = start_sim(tmp_path, firmware_image, "kitchen")
    hall, _ = start_sim(tmp_path, firmware_image, "hall")
    try:
        connect(kitchen_port).close()
        listed = {p.get("sim"): p for p in json.loads(earshot("ports", "--json"))}
        assert listed["sim:kitchen"]["port"] == kitchen_port
        assert listed["sim:kitchen"]["earshot"]["state"] == "earshot"
        assert "sim:hall" in listed
        r = subprocess.run([EARSHOT, "status", "--port", "sim"], capture_output=True, text=True)
        assert r.returncode == 1 and "2 virtual boards are running and none is the unnamed one: "\
            "pick one with --port sim:hall or --port sim:kitchen" in r.stderr

        pins = json.loads(earshot("pins", "--port", "sim:kitchen", "--json"))
        assert pins["pins"]["mute_led"] == 1 and pins["pins"]["mic_power"] == 0  # boots muted
        assert "status_led  green (0, 255, 0) private" in earshot("pins", "--port", "sim:kitchen")
        out = earshot("press", "mute", "--port", "sim:kitchen")
        assert out.startswith("pressed mute for 0.10 s")
        pins = json.loads(earshot("pins", "--port", "sim:kitchen", "--json"))
        assert pins["pins"] == {"mute_led": 0, "mic_power": 1, "status_led": [0, 255, 0]}
        assert json.loads(earshot("pins", "--port", "sim:hall", "--json"))["pins"]["mic_power"] == 0

        # The on-board wake word hears what `earshot play` plays (consent private: it says so).
        # (Ctrl-C reaches it even when this suite runs in the background, where SIGINT is
        # ignored and its children inherit that: before, it then never stopped.)
        mon = subprocess.Popen([EARSHOT, "monitor", "--port", "sim:kitchen"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               preexec_fn=interruptible)
        assert mon.stdout.readline().startswith("monitoring %s" % kitchen_port)
        t0 = time.monotonic()
        out = earshot("play", str(audio("alexa_en-us.wav")), "--port", "sim:kitchen", "--wait",
                      "--live")
        # --live: said at the pace of speech (1.49 s), never faster (a lower bound only).
        assert time.monotonic() - t0 >= 1.4
        assert out.startswith("played ") and "1.49 s of audio" in out
        # The board's events reach the monitor when they reach it: read until both are shown
        # (a loaded PC delays them in host time; the bound is only for a hang), then stop it.
        shown = read_until(mon, ("wake     'alexa'", "consent does not allow streaming"))
        mon.send_signal(signal.SIGINT)
        rest, err = mon.communicate(timeout=120)
        seen = shown + rest
        assert "wake     'alexa'" in seen and "consent does not allow streaming" in seen, seen
        assert mon.returncode == 130 and err == "earshot: interrupted\n"

        # Power: off is dark and deaf; a clean power-on restores the stored state (unmuted);
        # the reset button (cycle) is not a clean power-on: the board boots muted.
        assert earshot("power", "off", "--port", "sim:kitchen", "--json") == \
            json.dumps({"action": "off", "powered": False}, indent=1, sort_keys=True) + "\n"
        pins = json.loads(earshot("pins", "--port", "sim:kitchen", "--json"))
        assert pins["powered"] is False and pins["pins"]["status_led"] == [0, 0, 0]
        earshot("power", "on", "--port", "sim:kitchen")
        connect(kitchen_port).close()
        assert json.loads(earshot("status", "--port", "sim:kitchen", "--json"))["muted"] is False
        out = earshot("power", "cycle", "--port", "sim:kitchen")
        assert out == "power cycle: the board is on\n"
        connect(kitchen_port).close()
        assert json.loads(earshot("status", "--port", "sim:kitchen", "--json"))["muted"] is True
    finally:
        for sim in (kitchen, hall):
            sim.send_signal(signal.SIGTERM)
            assert "sim: stopped" in sim.communicate(timeout=120)[0]
    r = subprocess.run([EARSHOT, "pins", "--port", "sim"], capture_output=True, text=True)
    assert r.returncode == 1 and "no virtual board is running" in r.stderr
    assert not list((Path(os.environ["EARSHOT_HOME"]) / "run").glob("*.json"))  # unregistered
