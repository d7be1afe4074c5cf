"""Issue 19: commands given unusual input behave as the README says, through the installed
`earshot`: which board bare `--port sim` reaches when several run, what Ctrl-C mid-deploy and
mid-flash leaves and how to recover, deploy's board check, a cancelled key replacement, and
where the wake-word tools print their progress. (The one-line refusals are rows of
tests/test_bad_inputs.py.)"""

import hashlib
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from host_tools.hil.fixtures import boot_board
from host_tools.sim.runs import MARKER

EARSHOT = str(Path(sys.executable).with_name("earshot"))
pytestmark = pytest.mark.xdist_group("cli-as-documented")


def earshot(*args, cwd=None, timeout=120):
    return subprocess.run([EARSHOT, *args], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout)


def start_sim(tmp_path, *args, image=None, flash_name):
    """`earshot sim ARGS` on a flash of its own (the firmware already on it when `image`);
    returns the process and the lines it printed up to `running:`."""
    flash = tmp_path / flash_name
    flash.mkdir()
    (flash / MARKER).write_text("{}")
    if image:
        shutil.copytree(image, flash / "fs")
    sim = subprocess.Popen([EARSHOT, "sim", "--flash", str(flash), *args],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines = []
    for line in sim.stdout:
        lines.append(line.rstrip("\n"))
        if line.startswith("running:"):
            return sim, lines
    raise AssertionError("earshot sim did not come up: %s" % lines)


def stop(sim):
    sim.send_signal(signal.SIGTERM)
    sim.communicate(timeout=30)


def reach(lines):
    """The --port each line of `earshot sim`'s greeting says reaches it (they must agree)."""
    said = {re.search(r"reach it with --port (\S+)\)", lines[1]).group(1),
            re.search(r"--port (\S+); Ctrl-C", lines[-1]).group(1)}
    assert len(said) == 1, lines
    return said.pop()


def powered(port):
    r = earshot("pins", "--port", port, "--json")
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)["powered"]


def test_bare_port_sim_is_the_board_started_without_a_name_and_every_sim_says_what_reaches_it(
        tmp_path, firmware_image):
    unnamed, unnamed_lines = start_sim(tmp_path, image=firmware_image, flash_name="u")
    named, named_lines = start_sim(tmp_path, "--name", "bee", image=firmware_image,
                                   flash_name="b")
    try:
        assert reach(unnamed_lines) == "sim" and reach(named_lines) == "sim:bee"
        # Each greeting stays true while the other board runs: act through what it said.
        r = earshot("power", "off", "--port", reach(unnamed_lines))
        assert r.returncode == 0, r.stderr
        assert powered("sim:default") is False and powered(reach(named_lines)) is True
        r = earshot("power", "on", "--port", reach(unnamed_lines))
        assert r.returncode == 0, r.stderr
        assert powered("sim:default") is True
        stop(unnamed)
        other, other_lines = start_sim(tmp_path, "--name", "cee", flash_name="c")
        try:
            assert reach(other_lines) == "sim:cee"
            r = earshot("status", "--port", "sim")  # two named boards: which one? say so
            assert r.returncode == 1 and r.stderr.count("\n") == 1, r.stderr
            assert r.stderr.startswith("earshot: 2 virtual boards are running and none is the "
                                       "unnamed one: pick one with --port sim:bee or --port "
                                       "sim:cee"), r.stderr
        finally:
            stop(other)
    finally:
        if unnamed.poll() is None:
            stop(unnamed)
        stop(named)


def interrupt_when(proc, marker):
    """Ctrl-C, as a terminal sends it (SIGINT to the whole process group: earshot and the
    mpremote or esptool it runs), once `marker` appears on proc's stdout."""
    seen = ""
    while marker not in seen:
        c = proc.stdout.read(1)
        assert c, "ended before %r: %s" % (marker, seen[-2000:])
        seen += c
    os.killpg(proc.pid, signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    return seen + out, err


def recovery_command(err):
    """The command in backquotes the one-line message names, as argv for the installed earshot."""
    (command,) = re.findall(r"`(earshot [^`]+)`", err)
    return [EARSHOT, *shlex.split(command)[1:]]


def test_ctrl_c_mid_deploy_says_the_board_may_have_no_firmware_and_the_command_that_finishes_it(
        tmp_path):
    sim, _ = start_sim(tmp_path, "--name", "dep", flash_name="dep")  # bare MicroPython
    try:
        deploy = subprocess.Popen([EARSHOT, "deploy", "--port", "sim:dep", "--test-mode"],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                  start_new_session=True)
        out, err = interrupt_when(deploy, "deploy: copying ")
        assert deploy.returncode == 130, (out, err)
        assert err.count("\n") == 1, err
        assert err.startswith("earshot: interrupted: copying was cut short, so sim:dep may have "
                              "no Earshot firmware now"), err
        again = recovery_command(err)
        assert again[1:] == ["deploy", "--port", "sim:dep", "--board", "virtual", "--test-mode"]
        r = subprocess.run(again, capture_output=True, text=True, timeout=300)
        assert r.returncode == 0, r.stderr
        status = earshot("status", "--port", "sim:dep", "--json")
        assert status.returncode == 0 and json.loads(status.stdout)["board"] == "virtual"
    finally:
        stop(sim)


def s3_image(size):
    header = b"\xe9\x03\x02\x2f" + bytes(8) + (9).to_bytes(2, "little")  # chip id 9: ESP32-S3
    return header + os.urandom(size - len(header))


def test_flash_takes_sim_name_and_ctrl_c_mid_write_says_the_flash_is_incomplete(tmp_path):
    image = s3_image(2_000_000)
    (tmp_path / "fw.bin").write_bytes(image)
    sim, _ = start_sim(tmp_path, "--name", "rom", "--download-mode", flash_name="rom")
    command = [EARSHOT, "flash", "--board", "virtual", "--port", "sim:rom", "--micropython",
               str(tmp_path / "fw.bin"), "--before", "no-reset", "--no-deploy"]
    try:
        flash = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                 text=True, start_new_session=True)
        out, err = interrupt_when(flash, "Writing at ")
        assert flash.returncode == 130, (out[-2000:], err)
        assert err.count("\n") == 1, err
        assert re.match(r"earshot: interrupted: the flash of \S+ is incomplete \(erased or "
                        r"half-written; the boot sector goes last, so it will not boot a half "
                        r"image\): run the same earshot flash command again$", err), err
        r = subprocess.run(command, capture_output=True, text=True, timeout=300)
        assert r.returncode == 0, r.stderr
        assert "MicroPython written to" in r.stdout
        written = (tmp_path / "rom" / "fs.bin").read_bytes()
        assert written[:len(image)] == image
    finally:
        stop(sim)


def firmware_files(fs):
    return {str(p.relative_to(fs)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(fs.rglob("*")) if p.is_file() and p.relative_to(fs).parts[0] != "data"}


def test_deploy_refuses_a_board_file_the_running_firmware_was_not_deployed_for(
        tmp_path, firmware_image):
    # A DevKitC deployed as a BOX-3 drives the wrong pins and falls to the REPL: nothing may
    # be copied. Here the board is reached by its serial device alone (no registration), so
    # what its firmware reports is all deploy has, as with a real board.
    with boot_board(firmware_image, tmp_path) as board:
        board.wait_booted()
        before = firmware_files(board.flash_dir)
        r = earshot("deploy", "--port", board.port, "--board", "esp32-s3-devkitc-1-inmp441")
        assert r.returncode == 1 and r.stderr.count("\n") == 1, r.stderr
        assert r.stderr == ("earshot: --board esp32-s3-devkitc-1-inmp441, but %s runs Earshot "
                            "deployed for 'virtual': pass --board virtual (a wrong board file "
                            "would drive the wrong pins)\n" % board.port)
        assert "copying" not in r.stdout
        assert firmware_files(board.flash_dir) == before


def test_a_key_replacement_nobody_confirmed_leaves_no_folder_behind(tmp_path, firmware_image):
    with boot_board(firmware_image, tmp_path) as board:
        board.wait_booted()
        r = earshot("provision", "--port", board.port, "--device-id", "first", cwd=tmp_path)
        assert r.returncode == 0, r.stderr
        cmd = subprocess.Popen([EARSHOT, "provision", "--port", board.port, "--key-file",
                                "new/place/second.key"], cwd=tmp_path, text=True,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            waiting = cmd.stdout.readline()
            assert waiting.startswith("waiting: "), waiting
            # nobody holds both buttons: the request lapses in the board's time, which passes
            # here without the host's clock waiting for it
            board.advance(int(waiting.split()[-2]) + 2)
            out, err = cmd.communicate(timeout=120)
        finally:
            cmd.kill()
        assert cmd.returncode == 1 and "expired" in err, (waiting + out, err)
        assert not (tmp_path / "new").exists()
        assert (tmp_path / "keys" / "first.key").is_file()  # what was there stays


def test_wakeword_dataset_says_it_is_up_to_date_on_stdout(tmp_path):
    from host_tools.wakeword.dataset import FORMAT_VERSION

    root = tmp_path / "ds"
    root.mkdir()
    params = {"format": FORMAT_VERSION, "word": "alexa", "seed": 0, "scale": 1.0,
              "dev_fraction": 0.2, "dev_neg_hours": None, "train_neg_hours": None,
              "neural": False, "dev_scale": None}
    (root / "dataset.json").write_text(json.dumps({"params": params, "seconds": 1.0,
                                                   "splits": {"train": {"files": 3}}}))
    r = earshot("wakeword", "dataset", "--word", "alexa", "--out", str(root), "--no-neural")
    assert r.returncode == 0 and r.stderr == "", r.stderr
    assert r.stdout.splitlines() == [
        "dataset for 'alexa' is up to date in %s (use --force to rebuild)" % root,
        "dataset for 'alexa' in %s: train 3 files" % root]
    r = earshot("wakeword", "dataset", "--word", "alexa", "--out", str(root), "--no-neural",
                "--json")
    assert r.returncode == 0 and r.stderr == "" and json.loads(r.stdout)["root"] == str(root)


@pytest.mark.skipif(not (shutil.which("espeak-ng") and shutil.which("flite")),
                    reason="the dataset's voices need `apt-get install espeak-ng flite`")
def test_wakeword_dataset_progress_goes_to_stdout(tmp_path):
    r = earshot("wakeword", "dataset", "--word", "alexa", "--scale", "0.001", "--no-neural",
                "--workers", "1", "--out", str(tmp_path / "ds"), timeout=600)
    assert r.returncode == 0 and r.stderr == "", r.stderr
    assert re.search(r"^  train babble pool +\d+/\d+ ", r.stdout, re.M), r.stdout
    assert r.stdout.splitlines()[-1].startswith("dataset for 'alexa' in %s" % (tmp_path / "ds"))


def test_wakeword_train_progress_goes_to_stdout(monkeypatch, capsys):
    # torch is an optional extra: the trainer is stood in for; what is checked is where the
    # command sends the trainer's log lines.
    from host_tools.cli import main
    from host_tools.wakeword import train as T

    def fake_train(word, data, out, steps, seed=0, log=print, exclude_speakers=(),
                   max_near_miss=None, band_share=None, band_per=None):
        log("step 1/%d loss 0.5000 (0 s)" % steps)

    monkeypatch.setattr(T, "train", fake_train)
    assert main(["wakeword", "train", "alexa", "--steps", "7"]) == 0
    out = capsys.readouterr()
    assert out.out == "step 1/7 loss 0.5000 (0 s)\n" and out.err == ""
