"""The confirm gesture confirms only what the household saw (privacy contract point 9, issue 20):
a request that waited, and that the status LED had shown for SHOWN_MS, before the hold began.

The attacks of issue 20 run as a user or an attacker runs them: the installed `earshot` command
against a virtual board on a developer and on a locked build, and the page's POST endpoints.
Board time (the virtual board's clock) decides every timing: a hold is scheduled at a board
time, never after a wall-clock sleep."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from host_tools.hil.fixtures import DEVICE_ID, KEY, boot_board, confirm, connect, wait_for
from host_tools.records.translog import read_log
from host_tools.security import attacks
from tests.household import Earshot, Registered, wait_event
from tests.mpy import run_mpy

EARSHOT = str(Path(sys.executable).with_name("earshot"))
BOTH = "mute+action"


@pytest.fixture(scope="module")
def locked(tmp_path_factory):
    return attacks.locked_image(tmp_path_factory.mktemp("locked") / "image")


class Host:
    """A program on the host with the board's port: kept open, or (after release(), while an
    `earshot` command needs the port) opened for each command."""

    def __init__(self, port):
        self.port = port
        self.client = connect(port)

    def command(self, name, **args):
        if self.client is not None:
            return self.client.command(name, **args)
        c = connect(self.port)
        try:
            return c.command(name, **args)
        finally:
            c.close()

    def release(self):
        if self.client is not None:
            self.client.close()
            self.client = None


@pytest.fixture(params=["developer", "locked"])
def household(request, firmware_image, tmp_path):
    """A provisioned board, consent private, as the household has it; both builds."""
    image = firmware_image if request.param == "developer" else request.getfixturevalue("locked")
    board = boot_board(image, tmp_path)
    board.start()
    board.wait_booted()
    host = Host(board.port)
    host.command("provision", device_id=DEVICE_ID, key=KEY.hex())
    assert host.command("status")["access"] == request.param
    yield board, host
    host.release()
    board.close()


def earshot(*args, timeout=60, env=None):
    return subprocess.run([EARSHOT, *args], capture_output=True, text=True, timeout=timeout,
                          env=dict(os.environ, **(env or {})))


def requests(board):
    """The transparency log's `request` entries, as (event, why) pairs, oldest first."""
    res = read_log(board.flash_dir / "data" / "log.txt")
    return [(e.fields.get("event"), e.fields.get("why")) for e in res.entries
            if e.kind == "request"]


def consent_entries(board):
    res = read_log(board.flash_dir / "data" / "log.txt")
    return [e.fields for e in res.entries if e.kind == "consent"]


def hold_from(board, start_s, seconds):
    """Both buttons held from board time start_s (a person already holding when a host acts)."""
    board.world.hold(BOTH, seconds, at=start_s)


# -- the buttons: the hold is sampled every frame -----------------------------------------------

def test_the_gesture_needs_the_chord_in_every_frame_of_half_a_second():
    out = run_mpy("""
from earshot.buttons import Buttons
M, A = 1, 2
def run(steps):
    b = Buttons((M, A)); out = []
    for t, mask in steps:
        out += [(e, b.hold_began) for e, _ in (b.update(mask, t) or [])]
    return out
frames = lambda t0, t1, mask: [(t, mask) for t in range(t0, t1, 20)]
print(run(frames(0, 60, M | A) + [(60, 0)]))              # a 60 ms chord
print(run([(0, M | A), (600, M | A), (620, 0)]))            # two samples across a late frame
print(run(frames(0, 520, M | A) + [(520, 0)]))              # 26 frames: the gesture
print(run([(0, A)] + frames(20, 100, A) + frames(100, 620, M | A)))  # began with the first
""")
    assert out.splitlines() == [
        "[('chord', 0)]",
        "[('chord', 0)]",
        "[('chord', 0), ('both', 0)]",
        "[('chord', 0), ('both', 0)]",
    ]


# -- the attacks at the board ---------------------------------------------------------------------

def test_a_request_that_arrives_under_a_hold_is_never_confirmed_by_it(household):
    board, client = household
    start = board.time_s + 0.3
    hold_from(board, start, 3.0)  # the household already holds both buttons
    client.command("consent", preset="contribute")  # lands in the hold's first half second
    board.advance(3.5)
    s = client.command("status")
    assert s["consent"]["preset"] == "private", s["consent"]
    assert s["confirm"]["target"] == "contribute"  # still waiting, still refusable
    assert ("gesture_refused", "the request changed while the buttons were held") in \
        requests(board) or ("gesture_refused", "the request was not shown for 1 s before the "
                            "buttons were held") in requests(board)
    assert not [c for c in consent_entries(board) if c["source"] == "host+button"]
    confirm(board)  # seen, then held: now it is the household's choice
    wait_for(lambda: client.command("status")["consent"]["preset"] == "contribute")


def test_a_request_shown_for_less_than_a_second_is_not_confirmed(household):
    board, client = household
    client.command("consent", preset="history")
    board.press(BOTH, seconds=0.7)  # at once: the light blinked for well under a second
    assert client.command("status")["consent"]["preset"] == "private"
    assert ("gesture_refused", "the request was not shown for 1 s before the buttons were "
            "held") in requests(board)


def test_a_request_swapped_under_a_hold_is_refused_and_the_host_must_wait(household):
    board, client = household
    client.command("consent", preset="history")
    board.advance(1.5)  # the household has seen "history" blink, and starts holding
    hold_from(board, board.time_s + 0.1, 2.0)
    wait_for(lambda: board.buttons() != 0 or board.time_s > 10)
    # Within the half second: a more private choice frees the slot, then the swap.
    client.command("consent", preset="private")
    for name, args in (("consent", {"preset": "contribute"}),
                       ("provision", {"device_id": "attacker", "key": "11" * 32})):
        with pytest.raises(Exception) as refused:
            client.command(name, **args)
        assert "the board takes a new one in" in str(refused.value), refused.value
    board.advance(2.5)
    s = client.command("status")
    assert s["consent"]["preset"] == "private" and s["device_id"] == DEVICE_ID
    assert s["confirm"] is None
    log = requests(board)
    assert ("cancelled", "superseded") in log and ("refused", "cooldown") in log
    assert log.count(("refused", "cooldown")) == 1  # once per withdrawal, however often asked
    board.advance(5.0)  # the cool-down is board time
    assert client.command("consent", preset="history")["result"] == "needs_confirmation"


def test_a_request_that_takes_the_place_of_a_lapsed_one_under_a_hold_is_not_confirmed(
        household):
    # The household sees "history" blink for most of its 30 s and starts holding just before
    # it lapses; the host asks for "contribute" the moment the slot is free (no cool-down: it
    # withdrew nothing). The hold began under "history": it confirms neither.
    from host_tools.errors import ProtocolError

    board, client = household
    t0 = board.time_s
    reply = client.command("consent", preset="history")
    window = reply["seconds"]
    board.advance(window - 1.0)
    hold_from(board, t0 + window - 0.05, 1.5)
    while True:
        try:
            client.command("consent", preset="contribute")
            break
        except ProtocolError as e:
            assert "another request is waiting" in str(e)
            assert board.time_s < t0 + window + 5, "history never lapsed"
    board.advance(2.0)
    s = client.command("status")
    assert s["consent"]["preset"] == "private", s["consent"]
    assert s["confirm"]["target"] == "contribute"
    log = requests(board)
    assert ("expired", None) in log
    assert log[-1] == ("gesture_refused", "the request changed while the buttons were held"), log


def test_consent_private_while_private_cancels_a_waiting_request(household):
    board, client = household
    client.command("consent", preset="assistant")
    assert client.command("status")["confirm"]["target"] == "assistant"
    assert client.command("consent", preset="private")["result"] == "unchanged"
    assert client.command("status")["confirm"] is None
    assert ("cancelled", "superseded") in requests(board)


def test_a_cancel_names_the_request_it_withdraws(household):
    # An interrupted command withdraws its own request (`cancel` with its command number);
    # another host's number, or a stale one, leaves the household's request waiting.
    board, client = household
    c = client.client
    seq = c.send("consent", preset="history")
    wait_for(lambda: (client.command("status")["confirm"] or {}).get("target") == "history")
    assert client.command("cancel", re=seq + 1000)["cancelled"] is False
    assert client.command("status")["confirm"]["target"] == "history"
    assert client.command("cancel", re=seq)["cancelled"] is True
    assert client.command("status")["confirm"] is None


def test_who_asked_is_kept_with_the_request_as_text(household):
    board, client = household
    client.command("consent", preset="assistant", by="ann@laptop: earshot consent\x07 set")
    waiting = client.command("status")["confirm"]
    assert waiting["by"] == "ann@laptop: earshot consent? set" and waiting["seconds"] >= 29
    with pytest.raises(Exception) as bad:
        client.command("cancel", re="seven")
    assert "re must be a command number" in str(bad.value)


# -- at the command line ----------------------------------------------------------------------

@pytest.fixture
def sim(household, tmp_path, monkeypatch):
    board, client = household
    monkeypatch.setenv("EARSHOT_HOME", str(tmp_path / "home"))
    name = "g20%d" % os.getpid()
    reg = Registered(board, name)
    client.release()  # the command line needs the port
    yield board, client, "sim:" + name
    reg.close()


def test_earshot_press_both_then_consent_set_under_the_hold_changes_nothing(sim):
    board, client, port = sim
    press = subprocess.Popen([EARSHOT, "press", "both", "--port", port, "--seconds", "3"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    wait_for(lambda: board.buttons() != 0, timeout=30)
    r = earshot("consent", "set", "contribute", "--port", board.port, "--no-wait")
    assert r.returncode == 0, r.stderr
    assert press.wait(60) == 0
    s = client.command("status")
    assert s["consent"]["preset"] == "private" and s["confirm"]["target"] == "contribute"
    assert not [c for c in consent_entries(board) if c["source"] == "host+button"]
    assert s["confirm"]["by"].endswith("earshot consent set contribute")


class HoldAsItArrives:
    """The household starts holding both buttons as the host's command (the first line on the
    line that holds `needle`) is on its way: it reaches the firmware HOLD_LEAD_S of board time
    into the hold, however slowly the PC runs the `earshot` command that sends it (the line
    from the host is held back meanwhile, as a busy USB host would)."""

    HOLD_LEAD_S = 0.1

    def __init__(self, board, needle, seconds=2.0):
        self.start = None
        feed = board.console.feed

        def deliver(data):
            if self.start is None and needle in data:
                self.start = board.time_s
                board.world.hold(BOTH, seconds, at=self.start)
                wait_for(lambda: board.time_s >= self.start + self.HOLD_LEAD_S, timeout=30)
            return feed(data)

        board.console.feed = deliver


def test_a_swap_under_a_hold_at_the_command_line_is_refused(sim, tmp_path):
    # Issue 20, attack 2, typed at the command line: the household has seen "history" blink
    # and holds both buttons; within the half second the host makes it private (the request
    # is withdrawn), then asks for contribute, and for a key of its own.
    board, client, port = sim
    r = earshot("consent", "set", "history", "--port", port, "--no-wait")
    assert r.returncode == 0, r.stderr
    board.advance(1.5)  # it has blinked for more than a second
    hold = HoldAsItArrives(board, b'"preset":"private"')
    r = earshot("consent", "set", "private", "--port", port)
    assert r.returncode == 0, r.stderr
    assert hold.start is not None
    board.freeze_until_host_writes()  # within the 5 s cool-down on any PC (board time)
    r = earshot("consent", "set", "contribute", "--port", port, "--no-wait")
    assert r.returncode == 1 and r.stderr.count("\n") == 1, r.stderr
    assert "the board takes a new one in" in r.stderr, r.stderr
    key = tmp_path / "attacker.key"
    board.freeze_until_host_writes()
    r = earshot("provision", "--port", port, "--device-id", "attacker", "--key-file", str(key))
    assert r.returncode == 1 and r.stderr.count("\n") == 1, r.stderr
    assert "the board takes a new one in" in r.stderr, r.stderr
    assert not key.exists()
    board.advance(max(0.0, hold.start + 2.5 - board.time_s))  # the hold is over
    s = client.command("status")
    assert s["consent"]["preset"] == "private" and s["device_id"] == DEVICE_ID, s
    assert s["confirm"] is None
    assert not [c for c in consent_entries(board) if c["source"] == "host+button"]
    log = requests(board)
    assert ("cancelled", "superseded") in log and ("refused", "cooldown") in log, log
    # The hold itself was answered: the request it began on changed under it.
    assert ("gesture_refused", "the request changed while the buttons were held") in log, log


@pytest.mark.parametrize("how", [signal.SIGINT, signal.SIGTERM])
def test_an_interrupted_provision_withdraws_its_request_before_it_exits(sim, tmp_path, how):
    board, client, port = sim
    key = tmp_path / "a.key"
    proc = subprocess.Popen([EARSHOT, "provision", "--port", port, "--device-id", "attacker",
                             "--key-file", str(key)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    assert "waiting: hold both buttons together on the board: 30 s" in proc.stdout.readline()
    proc.send_signal(how)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 130 and err == "earshot: interrupted\n", err
    assert not key.exists()
    assert client.command("status")["confirm"] is None  # gone before the command ended
    assert ("cancelled", "withdrawn") in requests(board)
    board.advance(1.5)
    board.press(BOTH, seconds=0.7)  # the household's gesture now confirms nothing
    assert client.command("status")["device_id"] == DEVICE_ID
    # The same for a consent request (once the cool-down of that withdrawal is over), and the
    # host that withdrew it waits to ask again.
    board.advance(5.5)
    proc = subprocess.Popen([EARSHOT, "consent", "set", "history", "--port", port],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert "waiting: hold both buttons" in proc.stdout.readline()
    proc.send_signal(how)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    # The cool-down is 5 s of board time: the next command lands at this board time however
    # long a busy PC takes to start it.
    board.freeze_until_host_writes()
    r = earshot("consent", "set", "history", "--port", port, "--no-wait")
    assert r.returncode == 1 and r.stderr.count("\n") == 1, r.stderr
    assert r.stderr.startswith("earshot: board refused consent: a request was just withdrawn: "
                               "the board takes a new one in "), r.stderr
    assert client.command("status")["confirm"] is None


def test_consent_commands_that_answer_a_waiting_request_print_no_traceback(sim):
    board, client, port = sim
    for args in (("set", "history", "--no-wait"), ("set", "private"),
                 ("guest", "on"), ("set", "private"), ("guest", "off", "--no-wait")):
        board.advance(5.5)  # past any cool-down
        r = earshot("consent", *args, "--port", port)
        assert r.returncode == 0 and "Traceback" not in r.stderr, (args, r.stderr)
    assert client.command("status")["consent"]["preset"] == "private"


# -- through the page ---------------------------------------------------------------------------

def _post(url, path, body, csrf):
    import urllib.error
    import urllib.request

    req = urllib.request.Request(url + path, data=json.dumps(body).encode(), method="POST",
                                 headers={"x-earshot-csrf": csrf,
                                          "content-type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=20) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def _csrf(url):
    import re
    import urllib.request

    with urllib.request.urlopen(url + "board/1", timeout=20) as r:
        return re.search(r'name="earshot-csrf" content="([^"]+)"', r.read().decode()).group(1)


def test_the_page_cannot_get_a_request_confirmed_under_a_hold_nor_swap_one(household, tmp_path):
    board, client = household
    client.release()  # the dashboard needs the port
    proc = Earshot("dashboard", "--port", board.port, "--bind", "127.0.0.1:0",
                   env={"EARSHOT_STATE_DIR": str(tmp_path / "state")})
    try:
        url = proc.wait_line(r"dashboard: (http://\S+)").group(1)
        csrf = _csrf(url)
        hold_from(board, board.time_s + 0.3, 3.0)
        status, body = _post(url, "board/1/consent", {"preset": "contribute"}, csrf)
        assert status == 200 and body["reply"]["result"] == "needs_confirmation", body
        board.advance(3.5)
        state = wait_event(url, lambda k, d: k == "state" and d["pending"] and d["consent"],
                           "the request waiting")
        assert state["consent"]["preset"] == "private"
        assert state["pending"]["target"] == "contribute"
        assert state["pending"]["by"].startswith("the household page on "), state["pending"]
        assert not [c for c in consent_entries(board) if c["source"] == "host+button"]
        assert requests(board)[-1][0] == "gesture_refused", requests(board)
        # "private" answers it; asking again at once is refused, with how long to wait.
        status, body = _post(url, "board/1/consent", {"preset": "private"}, csrf)
        assert status == 200
        status, body = _post(url, "board/1/consent", {"preset": "contribute"}, csrf)
        assert status == 409 and "the board takes a new one in" in body["error"], body
        assert ("refused", "cooldown") in requests(board)
    finally:
        assert proc.stop() == 0, proc.output


# -- the Ctrl-C window in main.py -----------------------------------------------------------------

def test_a_ctrl_c_pending_as_main_py_turns_ctrl_c_off_never_stops_a_locked_board(locked,
                                                                                 tmp_path):
    board = boot_board(locked, tmp_path)
    board.ctrl_c_in_window()  # a Ctrl-C byte lands as main.py's first line takes effect
    with board:
        board.wait_booted()
        client = connect(board.port)
        s = client.command("status")
        assert s["access"] == "locked"
        client.close()
    res = read_log(board.flash_dir / "data" / "log.txt")
    assert [e.kind for e in res.entries if e.kind == "crash"] == [], [
        (e.kind, e.fields) for e in res.entries]
    assert [e.fields["cause"] for e in res.entries if e.kind == "boot"] == ["power-on"]
    assert board._ctrl_c_in_window is False  # that start had it


def test_a_frozen_board_keeps_its_time_until_the_host_writes_and_is_not_taken_for_stuck(
        board, client):
    # VirtualBoard.freeze_until_host_writes: what makes the command-line tests above hold on
    # a busy PC. Board time stands still (12 s of wall time: past the 10 s "stuck firmware"
    # watchdog heuristic), the first host byte lets it go on, and nothing was reset.
    boots = board.boots
    board.freeze_until_host_writes()
    t0 = board.time_s
    time.sleep(12)
    assert board.time_s - t0 < 0.05
    assert client.command("status")["uptime_ms"] >= 0  # the host's bytes let it go on
    board.advance(0.5)
    assert board.boots == boots
