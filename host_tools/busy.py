"""make test-busy: the suite on a busy machine (issue 19).

The suite times what the board does in board time, never the host's wall clock, so it must pass
while the machine is busy. This runs it RUNS times in a row beside CPU CPU-bound neighbours (a
Python busy loop each, at the suite's own priority) and BOARDS other virtual boards, each
deployed, unmuted and hearing speech over and over (`earshot play --wait sample:speech`), in an
earshot home of their own so that no test can reach them. The figures go to
<out>/report.{md,json}: each run's exit status, its pytest summary line and its wall time, with
the load average beside it; each run's whole output goes to <out>/run-N.log. The neighbours
are stopped at the end, whatever happened.

    python -m host_tools.busy [--runs 2] [--cpu 4] [--boards 4] [--out out/busy] [-- PYTEST ARGS]
"""

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

EARSHOT = [sys.executable, "-m", "host_tools.cli"]
HOG = "while True:\n    pass\n"


class Neighbours:
    """CPU hogs and virtual boards hearing speech, all stopped by close()."""

    def __init__(self, cpu, boards, log=print):
        self.log = log
        self.home = tempfile.mkdtemp(prefix="earshot-busy-")
        self.env = dict(os.environ, EARSHOT_HOME=self.home)
        self.procs = []
        self.stopping = threading.Event()
        self.plays = [0] * boards
        self.threads = []
        try:
            for _ in range(cpu):
                self.procs.append(subprocess.Popen([sys.executable, "-c", HOG]))
            for k in range(boards):
                self._board(k)
        except BaseException:
            self.close()
            raise

    def _board(self, k):
        name = "busy-%d" % k
        sim = subprocess.Popen(EARSHOT + ["sim", "--name", name, "--deploy", "--erase"],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                               env=self.env, cwd=self.home)
        self.procs.append(sim)
        said = []
        for line in sim.stdout:  # "running: ..." once the firmware is deployed and running
            said.append(line)
            if line.startswith("running:"):
                break
        else:
            raise SystemExit("busy: earshot sim --name %s stopped: %s"
                             % (name, "".join(said[-5:]).strip()))
        threading.Thread(target=sim.stdout.read, daemon=True).start()  # never let it block
        self._earshot("press", "mute", "--port", "sim:" + name)  # it boots muted: unmute
        t = threading.Thread(target=self._play, args=(k, name), daemon=True)
        t.start()
        self.threads.append(t)
        self.log("busy: board %s hears speech over and over" % name)

    def _earshot(self, *args, timeout=120):
        return subprocess.run(EARSHOT + list(args), capture_output=True, text=True,
                              env=self.env, cwd=self.home, timeout=timeout)

    def _play(self, k, name):
        while not self.stopping.is_set():
            try:
                r = self._earshot("play", "--wait", "--port", "sim:" + name, "sample:speech")
            except subprocess.TimeoutExpired:
                continue
            if r.returncode == 0:
                self.plays[k] += 1
            else:
                self.stopping.wait(1.0)

    def close(self):
        self.stopping.set()
        for p in self.procs:
            if p.poll() is None:
                p.send_signal(signal.SIGINT if p.args[:len(EARSHOT)] == EARSHOT else
                              signal.SIGTERM)
        for p in self.procs:
            try:
                p.wait(30)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        for t in self.threads:
            t.join(130)


def run_suite(pytest_args, log=print, keep=None):
    """One run of the suite as `make test` runs it; (exit status, summary line, seconds).
    `keep`: a file that gets the run's whole output (a failure's traceback is in it)."""
    env = {k: v for k, v in os.environ.items() if k != "EARSHOT_HOME"}
    t0 = time.monotonic()
    proc = subprocess.Popen([sys.executable, "-m", "pytest", "-q", "-n", "2", "--dist",
                             "loadgroup", "-p", "no:cacheprovider", *pytest_args],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    last = ""
    kept = open(keep, "w") if keep else None
    for line in proc.stdout:
        if kept:
            kept.write(line)
            kept.flush()
        line = line.rstrip("\n")
        if line.strip():
            last = line
        if line.startswith(("FAILED", "ERROR")):
            log("  " + line)
    proc.wait()
    if kept:
        kept.close()
    return proc.returncode, last.strip("= "), time.monotonic() - t0


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m host_tools.busy", description=__doc__.split(
        "\n\n")[0])
    ap.add_argument("--runs", type=int, default=2, help="runs of the suite in a row (2)")
    ap.add_argument("--cpu", type=int, default=4, help="CPU-bound neighbours (4)")
    ap.add_argument("--boards", type=int, default=4, help="other virtual boards playing audio (4)")
    ap.add_argument("--out", default="out/busy", help="report folder (out/busy)")
    ap.add_argument("pytest_args", nargs="*", help="after --: what pytest runs (the suite)")
    a = ap.parse_args(argv)
    if a.runs < 1 or a.cpu < 0 or a.boards < 0:
        ap.error("--runs must be at least 1, --cpu and --boards at least 0")
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    runs = []
    print("busy: %d CPU-bound neighbours, %d virtual boards playing speech" % (a.cpu, a.boards),
          flush=True)
    neighbours = Neighbours(a.cpu, a.boards, log=lambda s: print(s, flush=True))
    try:
        for i in range(a.runs):
            code, summary, secs = run_suite(a.pytest_args, log=lambda s: print(s, flush=True),
                                            keep=out / ("run-%d.log" % (i + 1)))
            load = os.getloadavg()[0]
            runs.append({"run": i + 1, "exit": code, "summary": summary,
                         "seconds": round(secs, 1), "load_average_1min": round(load, 1)})
            print("busy: run %d: exit %d, %s, %.0f s, load average %.1f"
                  % (i + 1, code, summary, secs, load), flush=True)
    finally:
        neighbours.close()
    report = {"cpu_neighbours": a.cpu, "boards": a.boards, "plays_per_board": neighbours.plays,
              "pytest_args": a.pytest_args, "runs": runs}
    (out / "report.json").write_text(json.dumps(report, indent=2) + "\n")
    rows = ["| run | exit | pytest | wall s | load average |", "|---|---|---|---|---|"]
    rows += ["| %(run)d | %(exit)d | %(summary)s | %(seconds).0f | %(load_average_1min).1f |" % r
             for r in runs]
    (out / "report.md").write_text(
        "# make test-busy\n\n%d CPU-bound neighbours, %d virtual boards playing speech "
        "(plays per board: %s)\n\n%s\n" % (a.cpu, a.boards, neighbours.plays, "\n".join(rows)))
    ok = all(r["exit"] == 0 for r in runs)
    print("busy: %s (%s)" % ("every run passed" if ok else "a run FAILED", out / "report.md"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
