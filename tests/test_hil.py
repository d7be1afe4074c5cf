"""earshot hil as a user runs it (docs/hil-rig.md): a virtual board started with `earshot sim`,
the firmware deployed with `earshot deploy --test-mode`, test mode armed by holding the action
button while it starts, then `earshot hil`, every step a subprocess, the board reached only
through its serial port (and, with --port sim:NAME, its buttons, power and pins)."""

import json
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from host_tools.board.build import build
from host_tools.board.files import load as load_board
from host_tools.hil.fixtures import KEY, boot_board, confirm
from host_tools.hil.runner import summarise
from host_tools.link.protocol import T_SESSION_CHUNK, T_SESSION_CLOSE, T_SESSION_HEADER
from host_tools.records import sessions
from host_tools.resources import audio

SESSION_TYPES = (T_SESSION_HEADER, T_SESSION_CHUNK, T_SESSION_CLOSE)
EARSHOT = str(Path(sys.executable).with_name("earshot"))
# Tests that need buttons, power and the probe, and one that needs none (a short dose: the
# full suite runs in make bench-hil and make hil-farm-demo).
DOSE = "bad_input or push_to_talk_streams or power_cut"
pytestmark = pytest.mark.xdist_group("hil-kitchen")  # one earshot sim for the module


def earshot(*args, cwd, timeout=180):
    return subprocess.run([EARSHOT, *args], capture_output=True, text=True, timeout=timeout,
                          cwd=cwd)


def ok(r):
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-2000:]
    return r.stdout


def armed(board):
    """A test-mode build, with the action button held from power-on: test mode is armed."""
    board.hold("action")
    return board


@pytest.fixture(scope="module")
def kitchen(tmp_path_factory):
    """`earshot sim --name kitchen` running, deployed with `earshot deploy --test-mode` and
    provisioned with `earshot provision`, as docs/hil-rig.md says (test mode not armed yet)."""
    home = tmp_path_factory.mktemp("home")
    work = tmp_path_factory.mktemp("work")
    import os

    env_home = os.environ.get("EARSHOT_HOME")
    os.environ["EARSHOT_HOME"] = str(home)  # the module's commands find this board by name
    sim = subprocess.Popen([EARSHOT, "sim", "--name", "kitchen"], stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True, cwd=work)
    try:
        port = sim.stdout.readline().split()[1]
        ok(earshot("deploy", "--test-mode", "--board", "virtual", "--port", "sim:kitchen",
                   cwd=work))
        ok(earshot("provision", "--port", "sim:kitchen", "--device-id", "kitchen", cwd=work))
        yield {"port": port, "work": work, "key": work / "keys" / "kitchen.key"}
    finally:
        sim.terminate()
        sim.wait(30)
        if env_home is None:
            os.environ.pop("EARSHOT_HOME", None)
        else:
            os.environ["EARSHOT_HOME"] = env_home


@pytest.fixture(autouse=True)
def earshot_home():
    """This module's boards live in the kitchen fixture's home, not one per test."""


def status(kitchen):
    return json.loads(ok(earshot("status", "--port", "sim:kitchen", "--json",
                                 cwd=kitchen["work"])))


def test_a_board_that_is_not_ready_is_refused_up_front_with_one_line(kitchen):
    port, work = kitchen["port"], kitchen["work"]
    # Deployed with --test-mode but nobody held the action button: not in test mode.
    r = earshot("hil", "--port", port, "--board", "virtual", cwd=work)
    assert r.returncode == 1 and r.stderr.count("\n") == 1, r.stderr
    assert r.stderr.startswith("earshot: %s is not in test mode" % port)
    assert "earshot deploy --test-mode --board virtual --port %s" % port in r.stderr
    assert "hold the action button while the board starts" in r.stderr
    assert "errors" not in r.stdout
    # The wrong board file.
    r = earshot("hil", "--port", port, "--board", "esp32-s3-devkitc-1-inmp441", cwd=work)
    assert r.returncode == 1 and r.stderr.count("\n") == 1, r.stderr
    assert "says it is 'virtual': pass --board virtual" in r.stderr
    # A port another program holds.
    from host_tools.link.serial_port import open_port

    held = open_port(port)
    try:
        r = earshot("hil", "--port", port, cwd=work)
        d = earshot("deploy", "--test-mode", "--board", "virtual", "--port", port, cwd=work)
    finally:
        held.close()
    assert r.returncode == 1 and r.stderr.count("\n") == 1, r.stderr
    assert "%s is busy" % port in r.stderr
    # (before, deploy said "mpremote: mpremote: failed to access /dev/pts/N")
    assert d.returncode == 1 and d.stderr.count("\n") == 1, d.stderr
    assert "%s is busy" % port in d.stderr
    # Nothing changed on the board.
    s = status(kitchen)
    assert s["device_id"] == "kitchen" and s["test_mode"] is False


def test_a_board_not_in_test_mode_is_refused_with_its_rig_and_left_exactly_as_found(kitchen):
    # Before, with a rig (--port sim:NAME) preflight armed test mode itself: a reset the log
    # recorded as a hard reset, and the household's unmuted board came back muted.
    work = kitchen["work"]
    ok(earshot("press", "mute", "--port", "sim:kitchen", cwd=work))  # the household unmutes
    before = status(kitchen)
    assert before["test_mode"] is False and before["muted"] is False
    log_before = json.loads(ok(earshot("log", "--port", "sim:kitchen", "--json", cwd=work)))
    r = earshot("hil", "--port", "sim:kitchen", "--key-file", str(kitchen["key"]), cwd=work)
    assert r.returncode == 1 and r.stderr.count("\n") == 1, r.stdout + r.stderr
    assert r.stderr.startswith("earshot: %s is not in test mode" % kitchen["port"]), r.stderr
    assert "earshot power cycle --hold action --port sim:NAME" in r.stderr
    assert "nothing was changed on the board" in r.stderr
    after = status(kitchen)
    for field in ("muted", "consent", "test_mode", "device_id", "provisioned"):
        assert after[field] == before[field], field
    log_after = json.loads(ok(earshot("log", "--port", "sim:kitchen", "--json", cwd=work)))
    assert log_after == log_before  # no reset, no restart: not one entry more
    ok(earshot("press", "mute", "--port", "sim:kitchen", cwd=work))  # as the next test expects


def test_earshot_hil_runs_the_suite_as_the_docs_say_and_gives_the_board_back(kitchen):
    port, work, key = kitchen["port"], kitchen["work"], str(kitchen["key"])
    # The household's choices before the run: unmuted, history (confirmed at the board).
    ok(earshot("press", "mute", "--port", "sim:kitchen", cwd=work))
    ok(earshot("consent", "set", "history", "--port", "sim:kitchen", "--no-wait", cwd=work))
    ok(earshot("press", "both", "--port", "sim:kitchen", "--after", "1.2", cwd=work))
    ok(earshot("power", "cycle", "--hold", "action", "--port", "sim:kitchen", cwd=work))
    ok(earshot("press", "mute", "--port", "sim:kitchen", cwd=work))  # the cycle muted it
    before = status(kitchen)
    assert before["test_mode"] is True and before["muted"] is False
    assert before["consent"]["preset"] == "history"

    # A bare board: serial only. What needs a rig is skipped with the reason.
    junit = work / "bare.xml"
    out = ok(earshot("hil", "--port", port, "--board", "virtual", "--key-file", key,
                     "--junit", str(junit), "-k", DOSE, cwd=work))
    rows = summarise(junit)[port]
    assert rows["failed"] == 0 and rows["passed"] >= 1, out
    assert any("button rig" in reason for reason in rows["skips"]), rows
    assert "rig: none" in out and "per board:" in out
    # Without buttons, what only the household may allow is left the more private way, said so.
    assert "left: consent private (it was history: set it again with earshot consent set " \
        "history and hold both buttons); muted (it was unmuted: press the mute button)" in out

    # The household sets it back; then the virtual board with its rig (buttons, power and
    # probe through earshot sim): everything passes and the board is given back as found.
    ok(earshot("consent", "set", "history", "--port", "sim:kitchen", "--no-wait", cwd=work))
    ok(earshot("press", "both", "--port", "sim:kitchen", "--after", "1.2", cwd=work))
    ok(earshot("press", "mute", "--port", "sim:kitchen", cwd=work))
    junit = work / "rig.xml"
    run = subprocess.Popen([EARSHOT, "hil", "--port", "sim:kitchen", "--key-file", key,
                            "--junit", str(junit), "-k", DOSE], cwd=work, text=True,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    first = [run.stdout.readline() for _ in range(2)]
    # Each test is said as it ends, on stdout, while the others still run (before, nothing
    # for two minutes): the first test's line comes while the run is still going.
    still_running = run.poll() is None
    rest, err = run.communicate(timeout=600)
    out = "".join(first) + rest
    assert run.returncode == 0, out + err
    assert first[0].startswith("board sim:kitchen: virtual, firmware ok, test mode on"), out
    assert re.match(r"  sim:kitchen +passed +test_\w+ \(\d+\.\d s\)$", first[1]), out
    assert still_running, out
    ended = re.findall(r"^  sim:kitchen +(\w+) +(test_\w+) ", out, re.M)
    assert len(ended) == 3 and {o for o, _ in ended} == {"passed"}, out
    assert out.index(first[1]) < out.index("== sim:kitchen:") < out.index("per board:")
    rows = summarise(junit)["sim:kitchen"]
    assert rows["failed"] == 0 and rows["skipped"] == 0 and rows["passed"] == 3, out
    assert "given back as found" in out
    after = status(kitchen)
    for field in ("device_id", "provisioned", "muted", "test_mode"):
        assert after[field] == before[field], field
    assert after["consent"]["preset"] == "history"


def test_earshot_power_holds_a_button_through_the_start_only_when_it_starts(kitchen):
    r = earshot("power", "off", "--hold", "action", "--port", "sim:kitchen", cwd=kitchen["work"])
    assert r.returncode == 1
    assert r.stderr == ("earshot: power off --hold: a button can only be held while the board "
                        "starts (on or cycle)\n")


def test_feed_is_refused_outside_test_mode(client):
    from host_tools.errors import ProtocolError

    with pytest.raises(ProtocolError, match="test mode"):
        client.command("feed", pcm="AAAA")


def test_test_mode_feed_replaces_the_mic_but_never_bypasses_mute(tmp_path):
    from host_tools.hil.target import SerialTarget
    from host_tools.link.protocol import T_EVENT
    from host_tools.sim.world import read_pcm

    clip = read_pcm(audio("alexa_en-us.wav"))
    image = build(load_board("virtual"), test_mode=True, out=tmp_path / "image")
    with armed(boot_board(image, tmp_path / "a")) as board:
        board.wait_booted()
        target = SerialTarget(board.port)
        assert target.wait_booted()["test_mode"] is True
        board.release("action")  # its release after the boot gesture is not a push-to-talk

        def wakes():
            frames = target.client.frames(0.3)
            return [f.event() for f in frames if f.type == T_EVENT and f.event()["ev"] == "wake"]

        target.play(bytes(16000) + clip + bytes(32000))
        target.wait_audio_done()
        assert wakes() == []  # muted: the fed audio was dropped unheard
        target.client.command("provision", device_id="rig-1", key=KEY.hex())
        target.client.command("consent", preset="assistant")
        confirm(board)
        board.press("mute")  # only the button unmutes, test mode or not
        target.client.frames(0.2)
        target.play(bytes(16000) + clip + bytes(64000))
        target.wait_audio_done()
        frames = target.client.frames(1.0)
        deadline = time.monotonic() + 10

        def ended():  # the session's close record, and the event that reports its end
            return any(f.type == T_SESSION_CLOSE for f in frames) and any(
                f.event().get("ev") == "session" for f in frames if f.type == T_EVENT)

        while not ended() and time.monotonic() < deadline:
            frames += target.client.frames(0.2)  # the session ends on the silence that follows
        evs = [f.event() for f in frames if f.type == T_EVENT]
        assert [e["word"] for e in evs if e["ev"] == "wake"] == ["alexa"]
        # The session a host's audio opened says so, signed: no receiver takes it for a real wake.
        records = [f.payload for f in frames if f.type in SESSION_TYPES]
        result = sessions.verify_stream(records, KEY)
        assert result.ok and result.sessions[0].wake_word == "alexa" and result.sessions[0].test
        assert [e["test"] for e in evs if e["ev"] == "session"] == [True]
        assert target.client.command("status")["test_mode"] is True
        target.close()


def test_in_test_mode_the_room_is_never_heard_only_the_host_s_audio():
    from tests.mpy import run_mpy

    out = run_mpy("""
from earshot.testfeed import TestFeed
feed = TestFeed()
frame = bytearray(b'\\xe1\\x10' * 320)   # what the microphone heard: the room
feed.take(frame, True)                   # nothing fed: silence, not the room
print(frame == bytearray(640))
feed.put(b'\\x01\\x02' * 320)
frame = bytearray(b'\\xe1\\x10' * 320)
feed.take(frame, True)
print(frame == bytearray(b'\\x01\\x02' * 320))
""")
    assert out.split() == ["True", "True"]


def test_a_test_skipped_before_it_named_its_board_is_counted_for_that_board(tmp_path):
    # Before, a test skipped in a fixture (no identity, no key) had no board property: the
    # per-board table said "4 skipped" under a run line saying "7 skipped".
    from host_tools.hil.runner import merge_junit

    part = tmp_path / "board0.xml"
    part.write_text(
        '<testsuites><testsuite name="pytest">'
        '<testcase name="named"><properties><property name="board" value="sim:kitchen"/>'
        '</properties><skipped message="pressing \'mute\' needs a button rig"/></testcase>'
        '<testcase name="early"><skipped message="verifying sessions needs the key"/></testcase>'
        '<testcase name="ok"/></testsuite></testsuites>')
    merged = tmp_path / "hil.xml"
    merge_junit([str(part)], str(merged), ["sim:kitchen"])
    rows = summarise(str(merged))
    assert list(rows) == ["sim:kitchen"]
    assert (rows["sim:kitchen"]["passed"], rows["sim:kitchen"]["skipped"]) == (1, 2)
    assert rows["sim:kitchen"]["skips"]["verifying sessions needs the key"] == 1


def test_a_run_stopped_like_ctrl_c_stops_even_when_earshot_runs_in_the_background():
    # A shell starts a background command (`make test &`, a CI step) with SIGINT ignored, and
    # its children inherit that: the SIGINT earshot hil sends to stop a board's run (and a
    # test sends to stop `earshot monitor`) did nothing, and the run was killed after a minute
    # without giving its board back. Children that are stopped with SIGINT get it back.
    script = """
import signal, subprocess, sys
from host_tools.hil.runner import interruptible
signal.signal(signal.SIGINT, signal.SIG_IGN)  # as a background job of a script
child = subprocess.Popen([sys.executable, "-c", "import time; print('up', flush=True); "
                          "time.sleep(60)"], stdout=subprocess.PIPE, text=True,
                         preexec_fn=interruptible)
child.stdout.readline()
child.send_signal(signal.SIGINT)
try:
    print(child.wait(30))
except subprocess.TimeoutExpired:
    child.kill()
    print("ignored")
"""
    r = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                       timeout=120)
    # KeyboardInterrupt: it stopped (Python ends by SIGINT itself: -2)
    assert r.stdout.strip() == "-2", r.stdout + r.stderr
