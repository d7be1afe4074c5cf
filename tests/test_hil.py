"""earshot hil against a rack of two boards (virtual ones, reached only through their ports)."""

import subprocess
import sys

from host_tools.board.build import build
from host_tools.board.files import load as load_board
from host_tools.hil.fixtures import boot_board, connect
from host_tools.hil.runner import summarise
from host_tools.resources import audio


def test_hil_runs_the_behaviour_suite_on_each_board_in_parallel(firmware_image, tmp_path):
    image = build(load_board("virtual"), test_mode=True, out=tmp_path / "image")
    with boot_board(image, tmp_path / "a") as a, boot_board(image, tmp_path / "b") as b:
        a.wait_booted()
        b.wait_booted()
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
    with boot_board(image, tmp_path / "a") as board:
        board.wait_booted()
        target = SerialTarget(board.port)
        assert target.wait_booted()["test_mode"] is True

        def wakes():
            frames = target.client.frames(0.3)
            return [f.event() for f in frames if f.type == T_EVENT and f.event()["ev"] == "wake"]

        target.play(bytes(16000) + clip + bytes(32000))
        target.wait_audio_done()
        assert wakes() == []  # muted: the fed audio was dropped unheard
        board.press("mute")  # only the button unmutes, test mode or not
        target.play(bytes(16000) + clip + bytes(32000))
        target.wait_audio_done()
        assert [w["word"] for w in wakes()] == ["alexa"]
        log = target.client.command("status")
        assert log["test_mode"] is True
        target.close()
