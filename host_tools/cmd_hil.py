"""earshot hil: the behaviour suite that `make test` runs on the virtual board, on real boards.

The same test bodies; the target is chosen by configuration (--earshot-port), not test code.
Several --port values run in parallel: every board runs the whole suite in its own pytest
process (xdist would split the tests between boards, and each board must pass all of them),
so a rack of ten takes about as long as one board.
"""

import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from collections import defaultdict
from pathlib import Path

from .errors import EarshotError

ROOT = Path(__file__).resolve().parent.parent
SUITE = ["tests/test_privacy_contract.py", "tests/test_protocol.py"]


def setup(p):
    p.add_argument("--port", "-p", action="append", required=True,
                   help="a board deployed with --test-mode (repeat for a rack of boards)")
    p.add_argument("--board", help="board file id (lets the suite redeploy)")
    p.add_argument("-k", dest="keyword", help="only tests matching this pytest expression")
    p.add_argument("--junit", help="also write a JUnit XML report here")


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


def _pytest_cmd(port, board, keyword, junit):
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:xdist",
           "-o", "junit_family=xunit1", "--junit-xml", junit, "--earshot-port", port, *SUITE]
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


def run(args):
    if not (ROOT / "tests").is_dir():
        raise EarshotError("earshot hil runs the suite from a checkout of the repository (tests/ "
                           "not found next to host_tools/)")
    if len(set(args.port)) != len(args.port):
        raise EarshotError("a port is given twice: each board needs its own --port")
    tmp = Path(tempfile.mkdtemp())
    junits = [str(tmp / ("board%d.xml" % i)) for i in range(len(args.port))]
    logs = [open(tmp / ("board%d.log" % i), "w+") for i in range(len(args.port))]
    procs = [subprocess.Popen(_pytest_cmd(port, args.board, args.keyword, junit), cwd=ROOT,
                              stdout=log, stderr=subprocess.STDOUT)
             for port, junit, log in zip(args.port, junits, logs)]
    codes = [p.wait() for p in procs]
    for port, log in zip(args.port, logs):
        log.seek(0)
        tail = log.read().strip().splitlines()
        print("== %s: %s" % (port, tail[-1] if tail else "no output"))
        log.close()
    junit = args.junit or str(tmp / "hil.xml")
    merge_junit(junits, junit)
    print("\nper board:")
    for port, row in sorted(summarise(junit).items()):
        print("  %-20s %3d passed %3d failed %3d skipped" % (port, row["passed"], row["failed"], row["skipped"]))
        for reason, n in sorted(row["skips"].items()):
            print("  %-20s     %d skipped: %s" % ("", n, reason))
    if args.junit:
        print("JUnit report: %s" % args.junit)
    return 0 if all(c in (0, 5) for c in codes) else 1
