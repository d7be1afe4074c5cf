"""The README stays true: every command and option it shows exists, and its two-terminal
walkthrough runs as written against a virtual board (the installed `earshot`)."""

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

from host_tools.cli import COMMANDS

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
README = (ROOT / "README.md").read_text()


def blocks(lang):
    return re.findall(r"^```%s\n(.*?)^```" % lang, README, re.M | re.S)


def help_of(*words):
    r = subprocess.run([str(BIN / "earshot"), *words, "--help"], capture_output=True, text=True)
    assert r.returncode == 0, (words, r.stderr)
    return r.stdout


def test_every_command_and_option_in_the_synopsis_exists():
    synopsis = next(b for b in blocks("") if b.startswith("earshot sim"))
    for line in synopsis.splitlines():
        if not line.startswith("earshot "):
            continue
        words = line.split()
        if words[1].startswith("--"):
            assert words[1] in help_of()
            continue
        name = words[1]
        assert name in COMMANDS, line
        text = help_of(name)
        for alternative in re.findall(r"\b([a-z]+(?:\|[a-z]+)+)\b", line.split("  ")[0]):
            for choice in alternative.split("|"):
                if choice not in ("on", "off", "cycle", "mute", "action"):
                    assert choice in text, (line, choice)
        subs = [w for w in ("show", "set", "guest") if name == "consent"]
        helps = text + "".join(help_of(name, s) for s in subs)
        for option in re.findall(r"(--[a-z-]+)", line.split("  ")[0]):
            assert option in helps, (line, option)


def test_the_two_terminal_walkthrough_runs_as_written(tmp_path):
    (walkthrough,) = blocks("sh")
    first, rest = walkthrough.split("\n", 1)
    assert first.startswith("earshot sim --deploy")
    # nothing is put in place first: the block plays a clip earshot ships (sample:speech)
    env = dict(os.environ, PATH="%s:%s" % (BIN, os.environ["PATH"]))
    sim = subprocess.Popen(first.split("#")[0].split(), cwd=tmp_path, env=env,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        for line in sim.stdout:
            if line.startswith("running:"):
                break
        else:
            raise AssertionError("earshot sim did not come up")
        r = subprocess.run(["bash", "-ec", rest], cwd=tmp_path, env=env, capture_output=True,
                           text=True, timeout=300)
    finally:
        sim.send_signal(signal.SIGTERM)
        sim.communicate(timeout=30)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    out = r.stdout
    assert "MUTED: microphone off" in out and "LED       green: private" in out
    assert "provisioned kitchen; key kept in keys/kitchen.key" in out
    assert "status_led  cyan" in out
    assert "consent history (cloud, retain), wake ptt; verified" in out
    assert re.search(r"^OK sessions/\w+\.json: 1 session", out, re.M)  # the file named
    assert "chain verified" in out
    assert "applied: consent is now private (no flags)" in out
    assert r.stderr == ""
