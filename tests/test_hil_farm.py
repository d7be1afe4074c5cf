"""The board farm on labgrid, a small dose (make hil-farm-demo runs the whole suite on three):
a coordinator and an exporter on 127.0.0.1 offer two virtual boards as two places; `earshot hil
--place` acquires both, runs the suite on each in parallel through ser2net and the places'
drivers, writes one JUnit file with the board in each test's properties, and releases the
places at the end, also when it is interrupted."""

import re
import signal
import subprocess
import time
import xml.etree.ElementTree as ET

from pathlib import Path

import pytest

from host_tools.errors import NotSupportedError
from host_tools.hil.runner import interruptible, summarise

pytestmark = pytest.mark.xdist_group("hil-farm")  # one farm for the module


@pytest.fixture(scope="module")
def farm(tmp_path_factory):
    try:
        import labgrid  # noqa: F401
    except ImportError:
        pytest.skip("labgrid is not installed: pip install 'earshot[lab]'")
    from host_tools.hil.farm import Farm, ser2net

    try:
        ser2net()
    except NotSupportedError as e:
        pytest.skip(str(e))
    with Farm(2, tmp_path_factory.mktemp("farm"), say=lambda line: None) as farm:
        yield farm


def acquired_by(farm, place):
    from host_tools.hil.lab import client

    code, out = client(farm.coordinator, place, "show")
    assert code == 0, out
    line = next(x for x in out.splitlines() if x.strip().startswith("acquired:"))
    return line.split(":", 1)[1].strip()


def test_earshot_hil_runs_the_suite_on_every_place_in_parallel_through_labgrid(farm, tmp_path):
    junit = tmp_path / "farm.xml"
    # power_cut needs all of it: the buttons (confirm, unmute), the relay, the probe, and the
    # test-mode feed over rfc2217. The farm armed test mode as a person would; after the
    # power cut the suite arms it again through the reset line.
    r = farm.hil("--junit", str(junit), "-k", "power_cut", capture_output=True, text=True,
                 timeout=600)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-2000:]
    rows = summarise(junit)
    for place in farm.places:
        assert rows[place]["passed"] == 1 and rows[place]["failed"] == 0, r.stdout
        assert rows[place]["skipped"] == 0, rows[place]["skips"]
        assert "board %s: virtual, firmware ok, test mode on, device %s; rig: buttons, power, " \
               "reset, probe" % (place, place) in r.stdout
        # the test said as it ended, per board
        assert re.search(r"^  %s +passed +test_power_cut_boots_muted_with_state_kept \(" % place,
                         r.stdout, re.M), r.stdout
    # The serial port went over raw TCP (socket://), not RFC 2217: the exporter offered each
    # board's own ser2net as a NetworkSerialPort.
    exported = (Path(farm.work) / "exporter.yaml").read_text()
    assert exported.count("cls: NetworkSerialPort") == 2 and "RawSerialPort" not in exported
    assert exported.count("protocol: raw") == 2
    boards = {p.get("value") for p in ET.parse(junit).getroot().iter("property")
              if p.get("name") == "board"}
    assert boards == set(farm.places)
    for place in farm.places:
        assert acquired_by(farm, place) == "None"  # released


def test_an_interrupted_run_still_releases_its_place(farm):
    from host_tools.hil.farm import EARSHOT

    run = subprocess.Popen([EARSHOT, "hil", "--place", farm.places[0], "--coordinator",
                            farm.coordinator, "--keys", str(farm.keys), "-k", "no_audio",
                            "--junit", "interrupted.xml"],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                           env=farm.env, cwd=farm.work, preexec_fn=interruptible)
    line = run.stdout.readline()  # printed once the board passed its preflight
    assert line.startswith("board %s:" % farm.places[0]), line + run.stderr.read()
    assert acquired_by(farm, farm.places[0]) != "None"
    time.sleep(2)  # inside the test: 30 s of speech are being fed
    run.send_signal(signal.SIGINT)
    out, err = run.communicate(timeout=120)
    assert run.returncode == 130 and err.endswith("earshot: interrupted\n"), err
    assert acquired_by(farm, farm.places[0]) == "None"
    # what ran before the interrupt is kept (before, the JUnit file was never written)
    assert ET.parse(Path(farm.work) / "interrupted.xml").getroot().tag == "testsuites"


def test_pytest_with_labgrid_s_own_plugin_acquires_the_place_and_releases_it(farm, tmp_path):
    import sys

    from host_tools.hil.lab import env_yaml

    place = farm.places[1]
    env = tmp_path / "lab.yaml"
    env.write_text(env_yaml(place, farm.coordinator))
    r = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "host_tools.hil.fixtures",
                        "--lg-env", str(env), "--pyargs", "host_tools.hil.suite",
                        "--earshot-keys", str(farm.keys), "-k", "bad_input"],
                       cwd=tmp_path, env=farm.env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0 and "1 passed" in r.stdout, r.stdout[-3000:] + r.stderr[-2000:]
    assert acquired_by(farm, place) == "None"


def test_a_place_without_a_relay_or_probe_skips_what_needs_them_with_the_reason(farm, tmp_path):
    # A labgrid environment for a board on this machine (no coordinator): its serial port and
    # the three lines of its rig, but no power relay and no probe.
    import json
    import sys

    reg = json.loads((farm.work / "home" / "run" / (farm.places[1] + ".json")).read_text())
    lines = "".join("      - HttpDigitalOutput: {name: %s, url: '%s/out/%s', body_asserted: '1', "
                    "body_deasserted: '0'}\n" % (n, reg["rig"], n)
                    for n in ("mute", "action", "reset"))
    env = tmp_path / "desk.yaml"
    env.write_text("targets:\n  main:\n    resources:\n      - RawSerialPort: {name: serial, "
                   "port: '%s'}\n%s" % (reg["port"], lines))
    junit = tmp_path / "desk.xml"
    r = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "host_tools.hil.fixtures",
                        "--lg-env", str(env), "--pyargs", "host_tools.hil.suite",
                        "--earshot-keys", str(farm.keys), "-k", "power_cut or unmutes",
                        "--junit-xml", str(junit), "-o", "junit_family=xunit1"],
                       cwd=tmp_path, env=farm.env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-2000:]
    skips = summarise(junit)["main (desk.yaml)"]["skips"]
    assert skips == {
        "reading pins needs a probe on the mute LED and mic power on place main (desk.yaml) "
        "(EarshotProbeProtocol 'probe'; docs/hil-rig.md)": 1,
        "cutting power needs a relay on the board's supply on place main (desk.yaml) "
        "(PowerProtocol 'power'; docs/hil-rig.md)": 1}, skips
