"""Shared by the dashboard and bridge tests: a provisioned virtual board and `earshot` running
as a user runs it (a subprocess of the installed command), stopped at the end."""

import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from host_tools.hil.fixtures import DEVICE_ID, KEY, boot_board, connect, wait_for
from host_tools.hil.runner import interruptible

OUT = Path(__file__).resolve().parents[1] / "out" / "household"


def provisioned_board(image, tmp):
    """A booted virtual board with DEVICE_ID and KEY; muted, consent private (as it boots)."""
    board = boot_board(image, tmp)
    board.start()
    board.wait_booted()
    client = connect(board.port)
    client.command("provision", device_id=DEVICE_ID, key=KEY.hex())
    client.close()
    return board


def key_file(tmp):
    path = Path(tmp) / "board.key"
    path.write_text(KEY.hex() + "\n")
    return path


class Earshot:
    """`earshot ARGS...` in the background; its output lines are collected as they come."""

    def __init__(self, *args, env=None):
        self.lines = []
        self.times = []  # time.monotonic() when each line arrived
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "host_tools.cli", *args], stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, text=True, env=dict(os.environ, **(env or {})),
            preexec_fn=interruptible)  # stop() is a Ctrl-C, even if we run in the background
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self):
        for line in self.proc.stdout:
            self.times.append(time.monotonic())
            self.lines.append(line.rstrip("\n"))

    def wait_line(self, pattern, timeout=30):
        """The first match of `pattern` in the output (waits for it)."""
        rx = re.compile(pattern)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in list(self.lines):
                m = rx.search(line)
                if m:
                    return m
            if self.proc.poll() is not None and not self._reader.is_alive():
                break
            time.sleep(0.05)
        raise AssertionError("earshot never printed %r; output:\n%s" % (pattern, self.output))

    @property
    def output(self):
        return "\n".join(self.lines)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(60)  # a generous bound: a busy PC is slow to stop, not stuck
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._reader.join(5)
        return self.proc.returncode


def unmute(board):
    """The board's button, as a person presses it, until its pins say the mic is on."""
    if board.pins()["mic_power"]:
        return
    board.press("mute")
    wait_for(lambda: board.pins()["mic_power"] == 1, timeout=5)


def page_events(url, board="1", timeout=30):
    """The dashboard's Server-Sent Events for one board, as (kind, data) pairs, as a page
    receives them; stops after `timeout` seconds."""
    import json
    import socket
    import urllib.request

    deadline = time.monotonic() + timeout
    with urllib.request.urlopen("%sevents?board=%s" % (url, board), timeout=20) as r:
        kind = None
        while time.monotonic() < deadline:
            try:
                line = r.readline()
            except (socket.timeout, TimeoutError):
                return
            if not line:
                return
            if line.startswith(b"event: "):
                kind = line[7:].strip().decode()
            elif line.startswith(b"data: "):
                yield kind, json.loads(line[6:])


def wait_event(url, predicate, what, timeout=30, board="1"):
    """The first (kind, data) from the page's event stream that `predicate` accepts."""
    seen = []
    for kind, data in page_events(url, board, timeout):
        if predicate(kind, data):
            return data
        seen.append(kind)
    raise AssertionError("the page never got %s within %ss (got %s)" % (what, timeout, seen))


class Registered:
    """A virtual board of the test's own, reachable as `--port sim:NAME` by `earshot pins`,
    `press`, `power` (as `earshot sim` publishes itself: host_tools/sim/runs.py, control.py)."""

    def __init__(self, board, name):
        from host_tools.sim.control import ControlServer
        from host_tools.sim.runs import Registration

        self.registration = Registration(name)
        self.control = ControlServer(board, board.runtime_dir / ("control-%s.sock" % name))
        self.registration.publish(port=board.port, control=self.control.path, board="virtual",
                                  flash=str(board.flash_dir), download_mode=False)

    def close(self):
        self.control.close()
        self.registration.close()
