"""The household's wake word reaches the board: `earshot sim --deploy --wake-word NAME` and
`earshot deploy --wake-word NAME` make the board load exactly that model (docs/wakeword.md),
`earshot status` says which, and an unknown NAME is refused before anything is touched."""

import json
import signal
import subprocess
import sys
from pathlib import Path

from host_tools.resources import audio

EARSHOT = str(Path(sys.executable).with_name("earshot"))


def earshot(*args, timeout=180):
    r = subprocess.run([EARSHOT, *args], capture_output=True, text=True, timeout=timeout)
    assert r.returncode == 0, (args, r.stderr)
    return r.stdout


def _unmuted(port):
    if json.loads(earshot("status", "--port", port, "--json"))["muted"]:
        earshot("press", "mute", "--port", port)
    assert json.loads(earshot("status", "--port", port, "--json"))["muted"] is False


def _wakes_heard(port, clip):
    """What `earshot monitor` shows while `clip` plays into the board."""
    mon = subprocess.Popen([EARSHOT, "monitor", "--port", port], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True)
    assert mon.stdout.readline().startswith("monitoring ")
    earshot("play", str(audio(clip)), "--port", port, "--wait")
    mon.send_signal(signal.SIGINT)
    seen, _ = mon.communicate(timeout=30)
    return [line for line in seen.splitlines() if "wake     '" in line], seen


def test_the_board_listens_for_exactly_the_word_deployed_and_status_names_it(tmp_path):
    sim = subprocess.Popen([EARSHOT, "sim", "--name", "ww", "--flash", str(tmp_path / "flash"),
                            "--deploy", "--wake-word", "hey_jarvis"],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        out = []
        while not out or "running:" not in out[-1]:
            line = sim.stdout.readline()
            assert line, "".join(out)
            out.append(line)
        port = "sim:ww"
        assert json.loads(earshot("status", "--port", port, "--json"))["wake_word"] == "hey jarvis"
        assert "wake word hey jarvis" in earshot("status", "--port", port)
        _unmuted(port)
        wakes, seen = _wakes_heard(port, "hey_jarvis_en-gb-quiet.wav")
        assert any("'hey jarvis'" in w for w in wakes), seen
        # earshot bench times the model the board listens for, not the alphabetically first
        assert json.loads(earshot("bench", "--port", port, "--json"))["model"] == "hey jarvis"

        # The same board, redeployed with alexa: the hey jarvis clip no longer wakes it
        # (the old model is still on the board, beside the chosen one: bench can measure it).
        done = earshot("deploy", "--port", port, "--wake-word", "alexa")
        assert "wake word alexa" in done, done
        assert json.loads(earshot("status", "--port", port, "--json"))["wake_word"] == "alexa"
        _unmuted(port)
        wakes, seen = _wakes_heard(port, "hey_jarvis_en-gb-quiet.wav")
        assert wakes == [], seen
        wakes, seen = _wakes_heard(port, "alexa_en-us.wav")
        assert any("'alexa'" in w for w in wakes), seen

        # An unknown name: one line, exit 1, the names there are; the board keeps its word.
        r = subprocess.run([EARSHOT, "deploy", "--port", port, "--wake-word", "hey_marvin"],
                           capture_output=True, text=True, timeout=60)
        assert r.returncode == 1 and r.stdout == "", r
        assert r.stderr.startswith("earshot: no wake-word model 'hey_marvin'; there are: ")
        assert "alexa" in r.stderr and "hey_jarvis" in r.stderr and r.stderr.count("\n") == 1
        assert json.loads(earshot("status", "--port", port, "--json"))["wake_word"] == "alexa"
    finally:
        sim.send_signal(signal.SIGTERM)
        sim.communicate(timeout=60)


def test_an_unknown_wake_word_is_refused_before_a_virtual_board_starts(tmp_path):
    r = subprocess.run([EARSHOT, "sim", "--name", "nope", "--flash", str(tmp_path / "f"),
                        "--deploy", "--wake-word", "okay_toaster"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 1 and r.stderr.count("\n") == 1, r
    assert r.stderr.startswith("earshot: no wake-word model 'okay_toaster'; there are: alexa, ")
    assert not (tmp_path / "f").exists()  # nothing created
    r = subprocess.run([EARSHOT, "sim", "--name", "nope", "--wake-word", "alexa"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and "--wake-word needs --deploy" in r.stderr, r
