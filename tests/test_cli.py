"""The `earshot` command as a user runs it: the installed entry point, against virtual boards.

Status tells the truth, consent waits for the button and reports the outcome, record keeps
what `earshot verify` accepts later, bench leaves the firmware running.
"""

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import serial

from host_tools.board.build import build
from host_tools.board.files import load as load_board
from host_tools.hil.fixtures import (KEY, SEE_LIGHT_S, boot_board, confirm, connect, silence,
                                     speech_like, wait_for)

EARSHOT = str(Path(sys.executable).with_name("earshot"))


def earshot(*args, timeout=60, cwd=None):
    return subprocess.run([EARSHOT, *args], capture_output=True, text=True, timeout=timeout,
                          cwd=cwd)


def one_line_error(r, needle):
    assert r.returncode == 1, r
    assert r.stderr.startswith("earshot: ") and needle in r.stderr, r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.stderr


def test_help_lists_commands_and_version_without_touching_a_port():
    r = earshot("--help")
    assert r.returncode == 0
    for name in ("sim", "press", "play", "pins", "power", "deploy", "status", "consent",
                 "record", "verify", "flash", "hil"):
        assert name in r.stdout
    assert "Exit status: 0 done; 1 failed" in " ".join(r.stdout.split())
    r = earshot("--version")
    assert r.returncode == 0 and r.stdout.startswith("earshot 0.1.0 (firmware 0.1.0, protocol v1)")


def test_every_option_has_help_text():
    from host_tools.cli import build_parser

    def walk(parser, path):
        for action in parser._actions:
            if action.help is None and action.option_strings:
                raise AssertionError("%s %s has no help" % (path, action.option_strings))
            choices = getattr(action, "choices", None)
            for name, sub in (choices.items() if isinstance(choices, dict) else ()):
                walk(sub, path + " " + name)

    walk(build_parser(), "earshot")


def test_busy_port_and_plain_micropython_are_named(tmp_path, board):
    with serial.Serial(board.port, exclusive=True):
        one_line_error(earshot("status", "--port", board.port), "busy")
    from host_tools.sim import VirtualBoard

    with VirtualBoard(flash_dir=tmp_path / "bare") as bare:
        bare.wait_booted()
        one_line_error(earshot("status", "--port", bare.port), "Earshot firmware is not running")


def test_status_never_says_listening_while_muted_and_shows_the_led_legend(board):
    r = earshot("status", "--port", board.port)
    assert r.returncode == 0, r.stderr
    out = r.stdout
    assert "MUTED: microphone off" in out and "listening" not in out
    assert "gate      closed: the microphone is off" in out
    assert "LED       green: private: nothing leaves the board" in out
    assert "magenta  guest: everything off" in out and "mute LED red" in out  # the legend
    board.press("mute")
    r = earshot("status", "--port", board.port)
    assert "gate      listening for the wake word" in r.stdout and "TEST MODE" not in r.stdout


def test_test_mode_shows_in_the_status_text_not_only_in_json(tmp_path):
    image = build(load_board("virtual"), test_mode=True, out=tmp_path / "image")
    b = boot_board(image, tmp_path)
    b.hold("action")  # a person arms test mode at power-on (docs/hil-rig.md)
    with b:
        b.wait_booted()
        connect(b.port).close()
        b.release("action")
        r = earshot("status", "--port", b.port)
    assert "TEST MODE" in r.stdout and "alternating with white: test mode" in r.stdout


def press_when_waiting(proc, board, button="mute+action", seconds=0.7):
    """Give the confirm gesture once the command says it waits for it; returns what it
    printed."""
    first = proc.stdout.readline()
    assert "waiting: hold both buttons together on the board: 30 s" in first, first
    board.advance(SEE_LIGHT_S)  # a person sees the light blink first (confirm.py SHOWN_MS)
    board.press(button, seconds=seconds)
    out, err = proc.communicate(timeout=60)
    return first + out, err


def test_consent_set_waits_for_the_button_then_reports_applied_or_expired(board):
    proc = subprocess.Popen([EARSHOT, "consent", "set", "assistant", "--port", board.port],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    out, err = press_when_waiting(proc, board)
    assert proc.returncode == 0, err
    assert "applied: consent is now assistant (cloud)" in out
    # Nobody presses: board time runs on (queued audio plays faster than real time) and the
    # request lapses; the command says so and fails.
    proc = subprocess.Popen([EARSHOT, "consent", "set", "contribute", "--port", board.port],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert "waiting: hold both buttons together" in proc.stdout.readline()
    board.play(silence(32))
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 1 and err.count("\n") == 1, err
    assert err.startswith("earshot: expired: nobody confirmed on the board in time; consent "
                          "stays assistant (cloud)")
    r = earshot("consent", "guest", "on", "--port", board.port, "--json")
    assert r.returncode == 0 and json.loads(r.stdout)["consent"]["guest"] is True
    board.press("mute")
    r = earshot("log", "--port", board.port)
    assert r.returncode == 0, r.stderr
    assert "chain verified" in r.stdout and "unmuted by button" in r.stdout
    assert "consent private (no flags) -> assistant (cloud), by host+button" in r.stdout


def record(board, tmp_path, out, key, speech=1.5):
    """Run earshot record while the household talks (push-to-talk); returns the result."""
    tap = board.tap()
    proc = subprocess.Popen([EARSHOT, "record", "--port", board.port, "--out", str(out),
                             "--key-file", str(key), "--seconds", "4", "--json"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    # The recorder has the port once the board answered its hello (before: 1 s of host time,
    # which a loaded PC spent starting Python, and the session went by unrecorded).
    wait_for(lambda: b'"protocol"' in tap or proc.poll() is not None, timeout=120)
    board.untap(tap)
    board.press("action")
    board.play(speech_like(speech) + silence(1.2))
    board.wait_audio_done()
    stdout, stderr = proc.communicate(timeout=60)
    return proc.returncode, stdout, stderr


def test_record_keeps_what_consent_allows_and_verify_accepts_it_later(ready, tmp_path):
    board, client = ready  # consent assistant: cloud, no retain
    key = tmp_path / "board.key"
    key.write_text(KEY.hex() + "\n")
    client.close()
    rc, out, err = record(board, tmp_path, tmp_path / "a", key)
    assert rc == 0, err
    meta = json.loads(out)
    assert meta["verified"] and meta["consent"] == ["cloud"] and meta["capture"] is None
    assert sorted(p.suffix for p in (tmp_path / "a").iterdir()) == [".json"]  # no audio kept
    r = earshot("verify", str(tmp_path / "a" / (meta["session_id"] + ".json")), "--key-file",
                str(key))
    assert r.returncode == 0 and "session header and its signed end verified" in r.stdout
    assert "its audio was not kept" in r.stdout

    c = connect(board.port)
    assert c.command("consent", preset="history")["result"] == "needs_confirmation"
    confirm(board)
    c.close()
    rc, out, err = record(board, tmp_path, tmp_path / "b", key)
    assert rc == 0, err
    meta = json.loads(out)
    assert meta["audio"] and meta["capture"] == meta["session_id"] + ".cap"
    for name in (meta["capture"], meta["session_id"] + ".json"):
        r = earshot("verify", str(tmp_path / "b" / name), "--key-file", str(key))
        assert r.returncode == 0 and r.stdout.startswith("OK "), r.stderr
        assert "consent history (cloud, retain)" in r.stdout

    # The wrong key: an error, and the session is kept (marked unverified), not dropped.
    wrong = tmp_path / "wrong.key"
    wrong.write_text(os.urandom(32).hex())
    rc, out, err = record(board, tmp_path, tmp_path / "c", wrong)
    assert rc == 1 and err.count("\n") == 1 and "does not verify with this key" in err, err
    kept = sorted(p.name for p in (tmp_path / "c").iterdir())
    assert all(".unverified." in n for n in kept) and any(n.endswith(".cap") for n in kept)
    cap = next(p for p in (tmp_path / "c").iterdir() if p.suffix == ".cap")
    r = earshot("verify", str(cap), "--key-file", str(key))  # the right key, later
    assert r.returncode == 0, r.stderr


def _objects(text):
    """Every JSON object printed one after another (earshot record --json)."""
    dec, pos, out = json.JSONDecoder(), 0, []
    while text[pos:].strip():
        obj, pos = dec.raw_decode(text, pos + len(text[pos:]) - len(text[pos:].lstrip()))
        out.append(obj)
    return out


def test_record_joining_mid_session_then_missing_one_names_the_gap_then_records(ready, tmp_path):
    # A session nobody recorded (the bridge took it, or no recorder ran; here a reader took its
    # header and left, so the board is still sending it when the recorder opens the port). Its rest is
    # skipped, not reported as a bad key; the next session names the gap without blaming the
    # key; the recording after that verifies (before: "does not verify with this key", and
    # every later session failed as "dropped").
    from host_tools.link.protocol import T_SESSION_HEADER

    board, client = ready
    key = tmp_path / "board.key"
    key.write_text(KEY.hex() + "\n")
    client.close()
    assert record(board, tmp_path, tmp_path / "first", key)[0] == 0
    client = connect(board.port)
    board.press("action")
    board.play(speech_like(2.0) + silence(1.2))
    deadline = time.monotonic() + 30
    while not any(f.type == T_SESSION_HEADER for f in client.frames(0.1)):
        assert time.monotonic() < deadline, "no session"
    client.close()  # a reader took the header and went away; the board sends on
    rc, out, err = record(board, tmp_path, tmp_path / "a", key)
    assert rc == 1 and err.count("\n") == 1, err
    assert "a session the board sent before it was never received and verified here" in err
    assert "--key-file" not in err
    assert [m["counter"] for m in _objects(out)] == [3]  # nothing of session 2's rest
    rc, out, err = record(board, tmp_path, tmp_path / "b", key)
    assert rc == 0, err
    assert json.loads(out)["verified"] is True


def test_bench_leaves_the_firmware_running(board):
    connect(board.port).close()
    r = earshot("bench", "--port", board.port, "--json", timeout=300)
    assert r.returncode == 0, r.stderr
    result = json.loads(r.stdout)
    assert result["platform"] == "linux" and result["model"] in ("alexa", "hey jarvis")
    assert 0 < result["core_share"] < 1  # the Unix port on this PC: far below real time
    assert result["cpu_mhz"] == 240  # read on the board: what hw set at boot, not the build's 160
    assert result["bytes_allocated"] == 0  # feed() allocates nothing in the steady state
    r = earshot("status", "--port", board.port, "--json")
    assert r.returncode == 0 and json.loads(r.stdout)["version"] == "0.1.0"


def test_replacing_a_key_waits_for_the_button_then_keeps_the_new_key_file(ready, tmp_path):
    board, client = ready
    client.close()
    def confirm_once_it_waits():
        # The board blinks its status LED white while a new key waits (docs/sessions.md): the
        # household holds both buttons once they see that, however long the command took to
        # start on a loaded PC (before: 2.5 s of host time, then the gesture, come what may).
        wait_for(lambda: board.pins()["status_led"] == (255, 255, 255), timeout=120, step=0.02)
        confirm(board)

    t = threading.Thread(target=confirm_once_it_waits)
    t.start()
    r = earshot("provision", "--port", board.port, "--device-id", "kitchen", "--key-file",
                str(tmp_path / "k.key"), "--json", timeout=60)
    t.join()
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout) == {"device_id": "kitchen", "key_file": str(tmp_path / "k.key"),
                                    "confirmed_on_board": True}
    assert len((tmp_path / "k.key").read_text().strip()) == 64
