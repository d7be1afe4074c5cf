"""The behaviour suite's pytest plugin: the board under test, a client, and helpers.

`make test` loads it for the whole suite (pyproject.toml: `-p host_tools.hil.fixtures`);
`earshot hil` loads it to run the shipped suite (host_tools/hil/suite) against real boards.
Without --earshot-port every `board` is a fresh virtual board booting a firmware image built
once per session; with it, the board on that port, restarted between tests.
"""

import os
import shutil
import time

import numpy as np
import pytest

from ..board.build import build
from ..board.files import load as load_board
from ..errors import NotSupportedError, ProtocolError
from ..link.client import Client
from ..link.protocol import T_EVENT
from ..sim import VirtualBoard

KEY = bytes(range(32))
DEVICE_ID = "earshot-test-1"


@pytest.fixture(scope="session")
def firmware_image(tmp_path_factory):
    """The virtual board's image (mpy-cross for this PC's CPU), as `earshot deploy` copies it."""
    return build(load_board("virtual"), out=tmp_path_factory.mktemp("image") / "virtual")


def boot_board(image, tmp_path, **kw):
    flash = tmp_path / "flash"
    if not flash.exists():
        shutil.copytree(image, flash)
    return VirtualBoard(flash_dir=flash, **kw)


def pytest_addoption(parser):
    group = parser.getgroup("earshot", "hardware in the loop (earshot hil)")
    group.addoption("--earshot-port", action="append", default=[],
                    help="run the behaviour tests against the board on this port (repeatable: "
                         "one xdist worker per board)")
    group.addoption("--earshot-board", default=None, help="board file id of those boards")


def hil_port(config):
    """The real board this worker drives, or None for the virtual board."""
    ports = config.getoption("--earshot-port")
    if not ports:
        return None
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
    return ports[int(worker[2:]) % len(ports)]


class Unsupported:
    """Wraps a target: an operation it cannot do skips the test with the target's reason."""

    def __init__(self, target):
        self._target = target

    def __getattr__(self, name):
        try:
            value = getattr(self._target, name)
        except NotSupportedError as e:
            pytest.skip(str(e))
        if not callable(value):
            return value

        def call(*args, **kwargs):
            try:
                return value(*args, **kwargs)
            except NotSupportedError as e:
                pytest.skip(str(e))

        return call


@pytest.fixture(scope="session")
def hil_target(request):
    port = hil_port(request.config)
    if port is None:
        yield None
        return
    from .target import SerialTarget

    target = SerialTarget(port, board_id=request.config.getoption("--earshot-board"))
    yield target
    target.close()


@pytest.fixture
def board(request, hil_target, tmp_path):
    """The board under test: a fresh virtual board, or with --earshot-port a real one
    restarted (soft reset: it boots muted) and set back to the private preset."""
    if hil_target is not None:
        request.node.user_properties.append(("port", hil_target.port))
        hil_target.restart()
        yield Unsupported(hil_target)
        return
    image = request.getfixturevalue("firmware_image")
    with boot_board(image, tmp_path) as b:
        b.wait_booted()
        yield b


def connect(port, timeout=10.0):
    """A protocol client once the firmware answers."""
    deadline = time.monotonic() + timeout
    client = Client(port, timeout=1.0)
    while True:
        try:
            client.hello()
            return client
        except ProtocolError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


@pytest.fixture
def client(board, hil_target):
    if hil_target is not None:
        yield hil_target.client  # one connection per port: the target's
        return
    c = connect(board.port)
    yield c
    c.close()


@pytest.fixture
def ready(board, client):
    """Provisioned, consent `assistant` (confirmed on the board), unmuted by the button."""
    client.command("provision", device_id=DEVICE_ID, key=KEY.hex())
    reply = client.command("consent", preset="assistant")
    assert reply["result"] == "needs_confirmation"
    confirm(board)
    board.press("mute")  # boots muted: only the button unmutes
    wait_for(lambda: client.command("status").get("muted") is False)
    assert client.command("status")["consent"]["preset"] == "assistant"
    return board, client


def confirm(board):
    """The household's confirm gesture: both buttons held together (firmware/earshot/buttons.py
    BOTH_MS), which nothing else uses."""
    board.press("mute+action", seconds=0.7)


def wait_for(predicate, timeout=10.0, step=0.05):
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in %ss" % timeout)
        time.sleep(step)


def events(client, seconds=0.5):
    """Event dicts and session frames seen within `seconds` (plus any backlog)."""
    frames = client.frames(0)
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        frames += client.read_frames(0.05)
    return frames


def event_dicts(frames):
    return [f.event() for f in frames if f.type == T_EVENT]


def speech_like(seconds, level=6000, seed=0, rate=16000):
    """Syllable-rate modulated noise: loud and bursty like speech, for the VAD and the gate."""
    rng = np.random.default_rng(seed)
    n = int(seconds * rate)
    t = np.arange(n) / rate
    envelope = 0.55 + 0.45 * np.sin(2 * np.pi * 4.0 * t)
    x = rng.standard_normal(n) * envelope * level / 1.5
    return np.clip(x, -32768, 32767).astype("<i2").tobytes()


def silence(seconds, rate=16000):
    return bytes(int(seconds * rate) * 2)
