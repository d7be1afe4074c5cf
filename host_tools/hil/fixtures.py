"""The behaviour suite's pytest plugin: the board under test, a client, and helpers.

`make test` loads it for the whole suite (pyproject.toml: `-p host_tools.hil.fixtures`);
`earshot hil` loads it to run the shipped suite (host_tools/hil/suite) against real boards.
Without --earshot-port every `board` is a fresh virtual board booting a firmware image built
once per session; with it (or with labgrid's --lg-env, a place), the board on that port,
checked once before the first test (preflight), restarted between tests, and given back with
the household's consent and mute as found.
"""

import json
import os
import shutil
import time

import numpy as np
import pytest

from ..board.build import build
from ..board.files import load as load_board
from ..errors import EarshotError, NotSupportedError, ProtocolError
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
    group.addoption("--earshot-port", default=None,
                    help="run the behaviour tests against the board on this port (a device or a "
                         "pyserial URL)")
    group.addoption("--earshot-rig", default="none",
                    help="what is wired around it: none, or sim:NAME (a running earshot sim's "
                         "buttons, power and pins); with labgrid's --lg-env, the place's drivers")
    group.addoption("--earshot-board", default=None, help="board file id of that board")
    group.addoption("--earshot-name", default=None, help="the board's name in reports")
    group.addoption("--earshot-key-file", default=None,
                    help="the board's signing key (what earshot provision wrote), to verify "
                         "its sessions")
    group.addoption("--earshot-keys", default="keys",
                    help="directory of <device id>.key files (default: ./keys)")
    group.addoption("--earshot-place", default=None,
                    help="with --lg-env: the place (RemotePlace name) whose target to use "
                         "(default: the target 'main')")
    group.addoption("--earshot-place-held", action="store_true",
                    help="the place is already acquired (by earshot hil): do not acquire or "
                         "release it here")
    group.addoption("--earshot-report", default=None,
                    help="write the preflight result and what was restored here (JSON; "
                         "earshot hil reads it)")
    group.addoption("--earshot-progress", default=None,
                    help="append one JSON line per finished test here (earshot hil prints "
                         "them as they come)")


def hil_wanted(config):
    """True when this run drives a board over serial (earshot hil, or labgrid's --lg-env)."""
    return bool(config.getoption("--earshot-port") or _lg_env(config))


def _lg_env(config):
    try:
        return config.getoption("lg_env") or os.environ.get("LG_ENV")
    except ValueError:  # labgrid's plugin is not loaded
        return None


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


def open_target(config):
    """The SerialTarget this run drives, with its rig; None for the in-process virtual board."""
    from .rig import Rig, SimRig
    from .target import SerialTarget

    if _lg_env(config) and not config.getoption("--earshot-port"):
        from .lab import place_target

        return place_target(config, _lg_env(config))
    port = config.getoption("--earshot-port")
    if not port:
        return None
    rig_spec = config.getoption("--earshot-rig")
    if rig_spec.startswith("sim:"):
        from ..sim.runs import find

        rig = SimRig(find(rig_spec))
    elif rig_spec == "none":
        rig = Rig()
    else:
        raise pytest.UsageError("--earshot-rig %s: use none or sim:NAME" % rig_spec)
    return SerialTarget(port, rig, board_id=config.getoption("--earshot-board"),
                        name=config.getoption("--earshot-name"))


class RunReport:
    """The JSON file earshot hil reads back: did preflight pass, what was left as found."""

    def __init__(self, path):
        self.path = path
        self.data = {}

    def write(self, **fields):
        self.data.update(fields)
        if self.path:
            tmp = self.path + ".tmp"
            with open(tmp, "w") as f:
                json.dump(self.data, f)
            os.replace(tmp, self.path)


@pytest.fixture(scope="session")
def hil_target(request):
    config = request.config
    if not hil_wanted(config):
        yield None
        return
    report = RunReport(config.getoption("--earshot-report"))
    try:
        target = open_target(config)
        target.preflight()
        before = target.household()
    except EarshotError as e:
        line = " ".join(str(e).split())
        report.write(error=line)
        pytest.exit(line, returncode=PREFLIGHT_FAILED)
    report.write(ok=True, board=target.name, port=target.port, board_id=target.board_id,
                 device_id=before["device_id"], rig=target.rig.describe())
    yield target
    try:
        report.write(left=target.put_back(before))
    finally:
        target.close()


class Progress:
    """One JSON line per test as it ends ({"test", "outcome", "seconds"}), for earshot hil to
    print while the suite runs: the worst of its setup, call and teardown."""

    _RANK = {"passed": 0, "skipped": 1, "failed": 2, "error": 3}

    def __init__(self, path):
        self.path = path
        self.seen = {}  # nodeid -> [outcome, seconds, reason]

    @pytest.hookimpl(trylast=True)
    def pytest_runtest_logreport(self, report):
        outcome = report.outcome
        if report.when != "call" and outcome == "failed":
            outcome = "error"
        row = self.seen.setdefault(report.nodeid, ["passed", 0.0, ""])
        row[1] += report.duration
        if self._RANK[outcome] > self._RANK[row[0]]:
            reason = ""
            if outcome == "skipped" and isinstance(report.longrepr, tuple):
                reason = report.longrepr[2].replace("Skipped: ", "")
            elif report.longrepr is not None and outcome != "skipped":
                reason = getattr(report.longrepr, "reprcrash", None)
                reason = reason.message.splitlines()[0] if reason else ""
            row[0], row[2] = outcome, reason

    def pytest_runtest_logfinish(self, nodeid, location):
        outcome, seconds, reason = self.seen.pop(nodeid, ["passed", 0.0, ""])
        with open(self.path, "a") as f:
            f.write(json.dumps({"test": nodeid.rsplit("::", 1)[-1], "outcome": outcome,
                                "seconds": round(seconds, 1), "reason": reason}) + "\n")


def pytest_configure(config):
    path = config.getoption("--earshot-progress", default=None)
    if path:
        config.pluginmanager.register(Progress(path), "earshot-progress")


PREFLIGHT_FAILED = 3  # the exit status of a run whose board is not ready for the suite


@pytest.fixture
def board(request, hil_target, tmp_path):
    """The board under test: a fresh virtual board, or with --earshot-port a real one
    restarted (soft reset: it boots muted) and set back to the private preset."""
    if hil_target is not None:
        request.node.user_properties.append(("board", hil_target.name))
        request.node.user_properties.append(("port", hil_target.port))
        hil_target.restart()
        yield Unsupported(hil_target)
        return
    image = request.getfixturevalue("firmware_image")
    with boot_board(image, tmp_path) as b:
        b.wait_booted()
        yield b


@pytest.fixture(scope="session")
def key(request, hil_target):
    """The key the board under test signs with: the suite's own on a fresh virtual board;
    on a real one, its own key file (the suite never replaces a board's key: it could not
    give the old one back, the firmware never reveals it)."""
    if hil_target is None:
        return KEY
    from ..board.keys import read_key

    path = request.config.getoption("--earshot-key-file")
    device_id = hil_target.household()["device_id"]
    if not path and device_id:
        candidate = os.path.join(request.config.getoption("--earshot-keys"), device_id + ".key")
        path = candidate if os.path.exists(candidate) else None
    if not path:
        pytest.skip("verifying the board's sessions needs its key: pass --key-file (earshot "
                    "provision kept it in keys/%s.key)" % (device_id or "<device id>"))
    return read_key(path)


# Host-side bounds: how long to wait for something the board does, on a PC that may be busy
# (a load average of 25 on two cores was seen). They only catch a hang; what the board did is
# measured in its own time, never by these.
HOST_WAIT_S = 60


def connect(port, timeout=HOST_WAIT_S):
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


def connect_again(client, timeout=HOST_WAIT_S):
    """The same client once the firmware answers again, after a reset or a power cycle (a
    board on USB takes its port with it: it is opened again)."""
    from ..errors import PortError

    deadline = time.monotonic() + timeout
    while True:
        try:
            client.hello()
            return client
        except (ProtocolError, PortError):
            client.close()
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
def ready(board, client, hil_target):
    """Provisioned, consent `assistant` (confirmed on the board), unmuted by the button. A
    fresh virtual board gets the suite's identity; a real board streams with its own."""
    if hil_target is None:
        client.command("provision", device_id=DEVICE_ID, key=KEY.hex())
    elif not client.command("status")["provisioned"]:
        pytest.skip("the board has no identity, so it streams nothing: earshot provision "
                    "--port %s (it keeps the key in keys/<device id>.key), then pass that "
                    "--key-file to earshot hil" % hil_target.port)
    reply = client.command("consent", preset="assistant")
    assert reply["result"] == "needs_confirmation"
    confirm(board)
    board.press("mute")  # boots muted: only the button unmutes
    wait_for(lambda: client.command("status").get("muted") is False)
    assert client.command("status")["consent"]["preset"] == "assistant"
    return board, client


def confirm(board):
    """The household's confirm gesture as a person gives it: they see the request's light for
    a moment (firmware/earshot/confirm.py SHOWN_MS: the gesture confirms only what the LED
    showed before the hold began), then hold both buttons together (buttons.py BOTH_MS)."""
    board.advance(SEE_LIGHT_S)
    board.press("mute+action", seconds=0.7)


SEE_LIGHT_S = 1.2  # board seconds a person looks at a request's light before holding


def wait_for(predicate, timeout=HOST_WAIT_S / 2, step=0.05):
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
