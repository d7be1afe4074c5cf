"""Run the behaviour suite on boards: one pytest process per board, one merged report.

The same test bodies `make test` runs on virtual boards; the target is chosen by configuration
(--earshot-port, or labgrid's --lg-env for a place), not test code. Every board runs the whole
suite in its own pytest process (xdist would split the tests between boards, and each board
must pass all of them), so a rack of ten takes about as long as one board. The suite ships
inside the package, so an installed earshot runs it from any directory.

Each process checks its board before the first test (fixtures.hil_target: preflight) and says
so in a small JSON report; if any board is not ready, every run is stopped and the reason is
the one line the user sees.
"""

import json
import signal
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import EarshotError
from ..resources import hil_suite_dir

_NO_TESTS = 5  # pytest's exit status when no test was collected (pytest.ExitCode.NO_TESTS_COLLECTED)
_STOP_S = 60  # how long a stopped run may take to give its board back (restore, release)


@dataclass
class Board:
    """One board to run the suite on: its name in reports and the pytest options that reach it."""

    name: str
    options: list = field(default_factory=list)


def interruptible():
    """Popen's preexec_fn for a child this process stops with SIGINT, as Ctrl-C would. A
    program started in the background by a non-interactive shell (`make test &`, a CI script)
    has SIGINT ignored (POSIX: the shell sets SIG_IGN for asynchronous commands), its children
    inherit that through exec, and Python then never raises KeyboardInterrupt: the SIGINT that
    should stop the child and make it give its board back would do nothing."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def summarise(junit_path):
    """{board: {"passed": n, "failed": n, "skipped": n, "skips": {reason: n}}} from JUnit XML."""
    per_board = defaultdict(lambda: {"passed": 0, "failed": 0, "skipped": 0,
                                     "skips": defaultdict(int), "failures": []})
    for case in ET.parse(junit_path).getroot().iter("testcase"):
        props = {p.get("name"): p.get("value") for p in case.iter("property")}
        row = per_board[props.get("board") or props.get("port") or "(no board)"]
        skipped = case.find("skipped")
        bad = case.find("failure") if case.find("failure") is not None else case.find("error")
        if bad is not None:
            row["failed"] += 1
            row["failures"].append((case.get("name"), (bad.get("message") or "").splitlines()[0]
                                    if bad.get("message") else ""))
        elif skipped is not None:
            row["skipped"] += 1
            row["skips"][skipped.get("message", "").replace("Skipped: ", "")] += 1
        else:
            row["passed"] += 1
    return per_board


def pytest_command(board, keyword, junit, ini, report, progress=None):
    """The pytest run for one board: the shipped suite, our plugin, no configuration from the
    current directory (`-c ini`, an empty one)."""
    suite = hil_suite_dir()
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:xdist",
           "-p", "host_tools.hil.fixtures", "-c", str(ini), "--rootdir", str(suite),
           "-o", "junit_family=xunit1", "-W", "ignore::DeprecationWarning:serial.rfc2217",
           "--junit-xml", junit, "--earshot-report", report,
           "--earshot-name", board.name, *board.options, str(suite)]
    if progress:
        cmd += ["--earshot-progress", progress]
    if keyword:
        cmd += ["-k", keyword]
    return cmd


def merge_junit(paths, out, names=None):
    """One JUnit file of every board's. Each file is one board's (`names`), so a test skipped
    before its fixtures could name the board (no key, no identity) is given its board here:
    every test carries the board it ran on, and the per-board counts add up."""
    root = ET.Element("testsuites", name="earshot hil")
    for i, p in enumerate(paths):
        if not Path(p).exists():
            continue
        for suite in ET.parse(p).getroot().iter("testsuite"):
            for case in suite.iter("testcase") if names else ():
                _name_board(case, names[i])
            root.append(suite)
    ET.ElementTree(root).write(out, encoding="utf-8", xml_declaration=True)


def _name_board(case, name):
    """Give a JUnit testcase a `board` property unless it has one."""
    if any(q.get("name") == "board" for q in case.iter("property")):
        return
    props = case.find("properties")
    if props is None:
        props = ET.Element("properties")
        case.insert(0, props)
    ET.SubElement(props, "property", name="board", value=name)


class Run:
    """The pytest processes of one `earshot hil`, and their files."""

    def __init__(self, boards, keyword=None, env=None):
        self.boards = boards
        self.keyword = keyword
        self.tmp = Path(tempfile.mkdtemp(prefix="earshot-hil-"))
        ini = self.tmp / "pytest.ini"
        ini.write_text("[pytest]\n")
        self.junits = [str(self.tmp / ("board%d.xml" % i)) for i in range(len(boards))]
        self.reports = [str(self.tmp / ("board%d.json" % i)) for i in range(len(boards))]
        self.logs = [open(self.tmp / ("board%d.log" % i), "w+") for i in range(len(boards))]
        self.progress = [str(self.tmp / ("board%d.progress" % i)) for i in range(len(boards))]
        self._read = [0] * len(boards)  # bytes of each progress file already shown
        # Each run in its own session: a Ctrl-C reaches only earshot hil, which stops every
        # run exactly once, so each can still put its board back and release its place.
        self.procs = [subprocess.Popen(pytest_command(b, keyword, j, ini, r, pr), cwd=self.tmp,
                                       stdout=log, stderr=subprocess.STDOUT, env=env,
                                       start_new_session=True, preexec_fn=interruptible)
                      for b, j, r, pr, log in zip(boards, self.junits, self.reports,
                                                  self.progress, self.logs)]

    def report(self, i):
        try:
            return json.loads(Path(self.reports[i]).read_text())
        except (OSError, ValueError):
            return {}

    def wait_preflight(self):
        """Wait until every board passed its preflight; the reports. EarshotError (every run
        stopped) with the one-line reason of each board that did not."""
        pending = set(range(len(self.boards)))
        while pending:
            for i in sorted(pending):
                rep = self.report(i)
                if rep.get("ok") or rep.get("error"):
                    pending.discard(i)
                elif self.procs[i].poll() is not None:
                    pending.discard(i)
            time.sleep(0.1)
        reports = [self.report(i) for i in range(len(self.boards))]
        errors = []
        for i, rep in enumerate(reports):
            if rep.get("ok"):
                continue
            if not rep.get("error") and self.procs[i].poll() == _NO_TESTS:
                errors.append("%s: no test ran%s (the board was not touched)" % (
                    self.boards[i].name, " (-k %s matched none)" % self.keyword
                    if self.keyword else ""))
                continue
            errors.append(rep.get("error") or "%s: the suite stopped before its first test "
                          "(%s)" % (self.boards[i].name, self.last_line(i)))
        if errors:
            self.stop()
            if len(errors) == 1:
                raise EarshotError(errors[0])
            raise EarshotError("%d boards are not ready: %s" % (len(errors), " | ".join(errors)))
        return reports

    def wait(self, say=None):
        """Wait for every run to end; meanwhile `say` one line per test as it ends."""
        while any(p.poll() is None for p in self.procs):
            self._show(say)
            time.sleep(0.5)
        self._show(say)
        return [p.wait() for p in self.procs]

    def _show(self, say):
        for i, path in enumerate(self.progress):
            try:
                with open(path) as f:
                    f.seek(self._read[i])
                    text = f.read()
            except OSError:
                continue
            whole = text[:text.rfind("\n") + 1]  # a line still being written waits
            self._read[i] += len(whole.encode())
            for line in whole.splitlines():
                if say:
                    say(progress_line(self.boards[i].name, json.loads(line)))

    def stop(self):
        """Ask every run still going to stop (one SIGINT, as Ctrl-C), and wait for it to put
        its board back; kill it if it takes longer than _STOP_S."""
        for p in self.procs:
            if p.poll() is None:
                p.send_signal(signal.SIGINT)
        deadline = time.monotonic() + _STOP_S
        for p in self.procs:
            try:
                p.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()

    def last_line(self, i):
        log = self.logs[i]
        log.flush()
        log.seek(0)
        lines = [x for x in log.read().strip().splitlines() if x.strip()]
        return lines[-1] if lines else "no output"

    def merge(self, junit=None):
        junit = junit or str(self.tmp / "hil.xml")
        merge_junit(self.junits, junit, [b.name for b in self.boards])
        return junit

    def close(self):
        for log in self.logs:
            log.close()


def _say(line):
    print(line, flush=True)  # as each test ends, also through a pipe (a CI log)


def run_suite(boards, keyword=None, junit=None, say=_say, env=None):
    """Run the suite on every board in parallel. Returns (exit codes, merged JUnit path,
    reports). A Ctrl-C stops every run, which still puts its board back."""
    run = Run(boards, keyword, env)
    try:
        reports = run.wait_preflight()
        for rep in reports:
            say(describe(rep))
        codes = run.wait(say)
    except BaseException:
        run.stop()
        if junit:  # what ran before the interrupt (pytest writes its report when stopped)
            try:
                run.merge(junit)
            except (OSError, ET.ParseError):
                pass
        run.close()
        raise
    for i, board in enumerate(boards):
        say("== %s: %s" % (board.name, run.last_line(i)))
    reports = [run.report(i) for i in range(len(boards))]
    path = run.merge(junit)
    run.close()
    return codes, path, reports


def progress_line(board, row):
    """One test that ended on one board: `  sim:kitchen  passed   test_x (3.1 s)`."""
    why = ": %s" % row["reason"][:100] if row.get("reason") else ""
    return "  %-16s %-7s %s (%.1f s)%s" % (board, row["outcome"], row["test"], row["seconds"],
                                          why)


def describe(rep):
    """One line per board before its tests: what it is and what its rig can do."""
    rig = rep.get("rig") or {}
    can = [k for k in ("buttons", "power", "reset", "probe") if rig.get(k)]
    return "board %s: %s, firmware ok, test mode on, %s; rig: %s" % (
        rep.get("board"), rep.get("board_id"),
        "device %s" % rep["device_id"] if rep.get("device_id") else "not provisioned",
        ", ".join(can) if can else "none (tests that press buttons, read pins or cut power "
                                   "are skipped with the reason)")
