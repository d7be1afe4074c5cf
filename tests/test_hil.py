"""earshot hil against a rack of two boards (virtual ones, reached only through their ports)."""

import subprocess
import sys
import time

from host_tools.board.build import build
from host_tools.board.files import load as load_board
from host_tools.hil.fixtures import KEY, boot_board, confirm, connect
from host_tools.link.protocol import T_SESSION_CHUNK, T_SESSION_CLOSE, T_SESSION_HEADER
from host_tools.records import sessions
from host_tools.hil.runner import summarise
from host_tools.resources import audio


SESSION_TYPES = (T_SESSION_HEADER, T_SESSION_CHUNK, T_SESSION_CLOSE)


def armed(board):
    """A test-mode build, with the action button held from power-on: test mode is armed."""
    board.hold("action")
    return board


def test_hil_runs_the_behaviour_suite_on_each_board_in_parallel(firmware_image, tmp_path):
    image = build(load_board("virtual"), test_mode=True, out=tmp_path / "image")
    with armed(boot_board(image, tmp_path / "a")) as a, \
            armed(boot_board(image, tmp_path / "b")) as b:
        a.wait_booted()
        b.wait_booted()
        connect(a.port).close()  # the firmware answers: the boot gesture is over
        connect(b.port).close()
        a.release("action")
        b.release("action")
        junit = tmp_path / "hil.xml"
        r = subprocess.run([sys.executable, "-m", "host_tools.cli", "hil", "--port", a.port,
                            "--port", b.port, "--board", "virtual", "--junit", str(junit),
                            "-k", "bad_input or unmutes or less_private or parser"],
                           capture_output=True, text=True, timeout=300, cwd=tmp_path)
        assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-2000:]
        rows = summarise(junit)
        assert set(rows) >= {a.port, b.port}
        for port in (a.port, b.port):
            assert rows[port]["failed"] == 0
            assert rows[port]["passed"] >= 1  # bad input, over the real serial path
            # Needs a button: skipped with the reason, never passed.
            assert any("button rig" in reason for reason in rows[port]["skips"])
        assert "per board:" in r.stdout
        # Test mode is recorded and visible in the status.
        c = connect(a.port)
        assert c.command("status")["test_mode"] is True
        c.close()


def test_feed_is_refused_outside_test_mode(client):
    import pytest

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
        while not any(f.type == T_SESSION_CLOSE for f in frames) and time.monotonic() < deadline:
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
