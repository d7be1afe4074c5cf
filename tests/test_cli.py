"""The `earshot` command as a user runs it: one-line errors, status, consent, log, record."""

import json
import os
import subprocess
import sys

import serial

from host_tools.hil.fixtures import KEY, events, silence, speech_like
from host_tools.link.protocol import T_SESSION_CHUNK, T_SESSION_CLOSE, T_SESSION_HEADER
from host_tools.records.recorder import store_session


def earshot(*args, timeout=60):
    return subprocess.run([sys.executable, "-m", "host_tools.cli", *args],
                          capture_output=True, text=True, timeout=timeout,
                          env=dict(os.environ, EARSHOT_PORT=""))


def test_help_lists_commands_without_touching_a_port():
    r = earshot("--help")
    assert r.returncode == 0
    for name in ("sim", "deploy", "status", "monitor", "consent", "log", "verify", "flash"):
        assert name in r.stdout


def test_user_mistakes_are_one_line_errors_not_tracebacks(tmp_path):
    for args, needle in [
        (("status",), "no port given"),
        (("status", "--port", str(tmp_path / "nope")), "no such port"),
    ]:
        r = earshot(*args)
        assert r.returncode == 1
        assert r.stderr.startswith("earshot: ") and needle in r.stderr
        assert "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1


def test_busy_port_and_plain_micropython_are_named(tmp_path, board):
    with serial.Serial(board.port, exclusive=True):
        r = earshot("status", "--port", board.port)
    assert r.returncode == 1 and "busy" in r.stderr
    from host_tools.sim import VirtualBoard

    with VirtualBoard(flash_dir=tmp_path / "bare") as bare:
        bare.wait_booted()
        r = earshot("status", "--port", bare.port)
    assert r.returncode == 1 and "Earshot firmware is not running" in r.stderr


def test_status_consent_and_log_against_a_board(board):
    r = earshot("status", "--port", board.port)
    assert r.returncode == 0, r.stderr
    assert "firmware  0.1.0" in r.stdout and "MUTED" in r.stdout and "private" in r.stdout
    r = earshot("consent", "set", "contribute", "--port", board.port)
    assert r.returncode == 0 and "press the action button" in r.stdout
    r = earshot("consent", "guest", "on", "--port", board.port)
    assert r.returncode == 0 and "[guest]" in r.stdout
    board.press("mute")
    r = earshot("log", "--port", board.port)
    assert r.returncode == 0, r.stderr
    assert "chain verified" in r.stdout and "unmuted by button" in r.stdout
    r = earshot("status", "--port", board.port, "--json")
    assert json.loads(r.stdout)["consent"]["guest"] is True


def test_record_keeps_audio_only_with_retain(ready, tmp_path):
    board, client = ready
    board.press("action")
    board.play(speech_like(1.5) + silence(1.2))
    board.wait_audio_done()
    records = [f.payload for f in events(client, 0.8)
               if f.type in (T_SESSION_HEADER, T_SESSION_CHUNK, T_SESSION_CLOSE)]
    side = store_session(tmp_path, records, KEY)
    meta = json.loads(side.read_text())
    assert meta["verified"] and meta["consent"] == ["cloud"]
    assert meta["audio"] is None and not list(tmp_path.glob("*.wav"))  # no retain: no audio


def test_bench_measures_the_detector_on_the_board(board):
    from host_tools.board.bench import bench

    r = bench(board.port, frames=50)
    assert r["platform"] == "linux" and r["model"] in ("alexa", "hey_jarvis")
    assert 0 < r["core_share"] < 1  # the Unix port on this PC: far below real time
    assert r["bytes_allocated"] == 0  # feed() allocates nothing in the steady state
