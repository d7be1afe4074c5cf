"""Malformed and oversized input to the host tools, from the board's side and the network's.

- A frame that checks out (magic, length, CRC) but whose event is not a JSON object: what a
  glitching cable, another program on the port or a buggy board can put on the line. Every host
  tool skips it like noise; none prints a traceback, and the dashboard keeps following the board
  (before, one such frame killed the dashboard's board thread and the page went on showing the
  last state it had, "Microphone ON" included, with the link still "up").
- A request body far larger than any the page sends: refused before it is read (before, an
  unauthenticated POST /login on a LAN dashboard was buffered whole: 400 MB sent, 440 MB of
  memory, and the process that also runs the bridge could be made to run out)."""

import json
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from host_tools.hil.fixtures import boot_board
from host_tools.link.protocol import T_EVENT, encode_frame
from tests.cable import Cable
from tests.household import Earshot, unmute

EARSHOT = str(Path(sys.executable).with_name("earshot"))
JUNK = [b"[1, 2]", b"not json", b'"a string"', b"\xff\xfe"]


class NoisyCable(Cable):
    """Passes everything, and puts the JUNK frames on the line before every frame whenever
    `noisy` is set."""

    def __init__(self, port, junk=JUNK, after=False):
        super().__init__(port)
        self.junk = junk
        self.after = after  # the junk follows each frame instead (it is then the last word)
        self.noisy = True
        self.sent = 0

    def rewrite(self, frame):
        junk = []
        if self.noisy:
            junk = [encode_frame(T_EVENT, frame.seq, j) for j in self.junk]
            self.sent += len(junk)
        real = super().rewrite(frame)
        return real + junk if self.after else junk + real


@pytest.fixture
def cable(firmware_image, tmp_path):
    board = boot_board(firmware_image, tmp_path / "b")
    board.start()
    board.wait_booted()
    c = NoisyCable(board.port)
    c.start()
    yield board, c
    c.close()
    board.close()


def test_status_skips_a_frame_that_is_not_an_event(cable):
    board, c = cable
    r = subprocess.run([EARSHOT, "status", "--port", c.url, "--json"], capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["muted"] is True and c.sent >= len(JUNK)


def test_the_dashboard_keeps_following_the_board_through_bad_frames(cable, tmp_path):
    board, c = cable
    proc = Earshot("dashboard", "--port", c.url, "--bind", "127.0.0.1:0",
                   env={"EARSHOT_STATE_DIR": str(tmp_path)})
    try:
        url = proc.wait_line(r"dashboard: (http://\S+)").group(1)

        def muted():
            with urllib.request.urlopen(url + "events?board=1", timeout=10) as r:
                for line in r:
                    if line.startswith(b"data: "):
                        return json.loads(line[6:])["muted"]

        unmute(board)  # the bad frames come with every frame the board sends
        deadline = time.monotonic() + 20
        while muted() is not False:
            assert time.monotonic() < deadline, proc.output
            time.sleep(0.2)
        board.press("mute")
        deadline = time.monotonic() + 20
        while muted() is not True:
            assert time.monotonic() < deadline, proc.output
            time.sleep(0.2)
        assert "Traceback" not in proc.output, proc.output
    finally:
        assert proc.stop() == 0, proc.output


def test_events_of_the_wrong_shape_never_raise_in_the_dashboard(firmware_image, tmp_path):
    # Frames that are JSON objects, but whose fields are not what the board sends (a countdown
    # that is text, consent that is a list): before, each raised on the dashboard's event loop
    # ("Exception in callback", a traceback) and left the page behind.
    board = boot_board(firmware_image, tmp_path / "b")
    board.start()
    board.wait_booted()
    c = NoisyCable(board.port, junk=[
        b'{"ev": "confirm", "what": "consent", "state": "waiting", "seconds": "soon"}',
        b'{"ev": "consent", "preset": "private", "flags": [], "guest": false, "pending": 7}',
        b'{"ev": "state", "m": "mute", "new": ["muted"]}'], after=True)
    c.start()
    proc = Earshot("dashboard", "--port", c.url, "--bind", "127.0.0.1:0",
                   env={"EARSHOT_STATE_DIR": str(tmp_path)})
    try:
        url = proc.wait_line(r"dashboard: (http://\S+)").group(1)
        unmute(board)
        board.press("mute")
        deadline = time.monotonic() + 20
        while _muted(url) is not True or c.sent < 6:
            assert time.monotonic() < deadline, proc.output
            time.sleep(0.2)
        sent = c.sent  # the board keeps answering the dashboard's pings, junk before each:
        deadline = time.monotonic() + 20  # a mute "new" that is no state never shows as ON
        while c.sent < sent + 9:
            assert _muted(url) is True and time.monotonic() < deadline, proc.output
            time.sleep(0.3)
    finally:
        assert proc.stop() == 0, proc.output
        c.close()
        board.close()
    assert "Traceback" not in proc.output and "Exception" not in proc.output, proc.output


def _muted(url):
    with urllib.request.urlopen(url + "events?board=1", timeout=10) as r:
        for line in r:
            if line.startswith(b"data: "):
                return json.loads(line[6:])["muted"]


def test_the_dashboard_refuses_a_huge_request_body_before_reading_it(cable, tmp_path):
    board, c = cable
    proc = Earshot("dashboard", "--port", c.url, "--bind", "127.0.0.1:0", "--lan",
                   env={"EARSHOT_STATE_DIR": str(tmp_path)})
    try:
        url = proc.wait_line(r"dashboard: http://127.0.0.1:(\d+)/")
        port = int(url.group(1))
        for head in (b"Content-Length: %d" % (400 << 20), b"Transfer-Encoding: chunked"):
            with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
                s.sendall(b"POST /login HTTP/1.1\r\nHost: 192.168.1.5\r\nContent-Type: "
                          b"application/json\r\n" + head + b"\r\n\r\n" + b"x" * 4096)
                answer = s.recv(200)  # at once, without the other 400 MB
            assert answer.split(b"\r\n")[0] in (b"HTTP/1.1 413 Request Entity Too Large",
                                                 b"HTTP/1.1 411 Length Required"), answer
        # What the page sends still works: a wrong token is refused as such.
        req = urllib.request.Request("http://127.0.0.1:%d/login" % port, method="POST",
                                     data=b'{"token": "nope"}',
                                     headers={"content-type": "application/json"})
        try:
            urllib.request.urlopen(req, timeout=10)
        except urllib.error.HTTPError as e:
            assert e.code == 403 and b"wrong token" in e.read()
        else:
            raise AssertionError("a wrong token was accepted")
    finally:
        assert proc.stop() == 0, proc.output
