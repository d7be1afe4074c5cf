"""Run the behaviour suite on real boards: one pytest process per board, one merged report.

The same test bodies `make test` runs on virtual boards; the target is chosen by configuration
(--earshot-port), not test code. Every board runs the whole suite in its own pytest process
(xdist would split the tests between boards, and each board must pass all of them), so a rack
of ten takes about as long as one board. The suite ships inside the package, so an installed
earshot runs it from any directory.
"""

import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from collections import defaultdict
from pathlib import Path

from ..resources import hil_suite_dir


def summarise(junit_path):
    """{port: {"passed": n, "failed": n, "skipped": n, "skips": {reason: n}}} from JUnit XML."""
    per_port = defaultdict(lambda: {"passed": 0, "failed": 0, "skipped": 0, "skips": defaultdict(int)})
    for case in ET.parse(junit_path).getroot().iter("testcase"):
        props = {p.get("name"): p.get("value") for p in case.iter("property")}
        port = props.get("port", "(no board)")
        row = per_port[port]
        skipped = case.find("skipped")
        if case.find("failure") is not None or case.find("error") is not None:
            row["failed"] += 1
        elif skipped is not None:
            row["skipped"] += 1
            row["skips"][skipped.get("message", "").replace("Skipped: ", "")] += 1
        else:
            row["passed"] += 1
    return per_port


def pytest_command(port, board, keyword, junit, ini):
    """The pytest run for one board: the shipped suite, our plugin, no configuration from the
    current directory (`-c ini`, an empty one)."""
    suite = hil_suite_dir()
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:xdist",
           "-p", "host_tools.hil.fixtures", "-c", str(ini), "--rootdir", str(suite),
           "-o", "junit_family=xunit1", "--junit-xml", junit, "--earshot-port", port, str(suite)]
    if board:
        cmd += ["--earshot-board", board]
    if keyword:
        cmd += ["-k", keyword]
    return cmd


def merge_junit(paths, out):
    root = ET.Element("testsuites", name="earshot hil")
    for p in paths:
        if Path(p).exists():
            for suite in ET.parse(p).getroot().iter("testsuite"):
                root.append(suite)
    ET.ElementTree(root).write(out, encoding="utf-8", xml_declaration=True)


def run_suite(ports, board=None, keyword=None, junit=None, say=print):
    """Run the suite on every port in parallel; returns (pytest exit codes, merged JUnit path)."""
    tmp = Path(tempfile.mkdtemp(prefix="earshot-hil-"))
    ini = tmp / "pytest.ini"
    ini.write_text("[pytest]\n")
    junits = [str(tmp / ("board%d.xml" % i)) for i in range(len(ports))]
    logs = [open(tmp / ("board%d.log" % i), "w+") for i in range(len(ports))]
    procs = [subprocess.Popen(pytest_command(port, board, keyword, j, ini), cwd=tmp,
                              stdout=log, stderr=subprocess.STDOUT)
             for port, j, log in zip(ports, junits, logs)]
    codes = [p.wait() for p in procs]
    for port, log in zip(ports, logs):
        log.seek(0)
        tail = log.read().strip().splitlines()
        say("== %s: %s" % (port, tail[-1] if tail else "no output"))
        log.close()
    junit = junit or str(tmp / "hil.xml")
    merge_junit(junits, junit)
    return codes, junit
