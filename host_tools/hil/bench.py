"""make bench-hil: the whole behaviour suite on 1, 3 and 6 virtual boards, through direct ports
and through labgrid, on this machine.

    direct   earshot hil --port sim:NAME ...   serial on the pty; buttons, power and probe
                                               through the simulator's control socket
    labgrid  earshot hil --place NAME ...      serial through ser2net (raw TCP, socket://);
                                               buttons, power, reset and probe through the
                                               places' drivers (HTTP), places acquired/released

Each run is timed from `earshot hil` starting to it ending (preflight, the suite, giving the
boards back, and for labgrid acquiring and releasing); setting the boards up is timed apart.
CPU seconds are counted over every process involved (the boards' simulators and MicroPython,
pytest, ser2net, the exporter and coordinator) from /proc, during the run only.

    python -m host_tools.hil.bench [--boards 1,3,6] [--repeats 1] [--out out/bench-hil]
"""

import argparse
import json
import os
import resource
import shutil
import sys
import time
from pathlib import Path

from .farm import Farm, Rack
from .runner import summarise

_TICK = os.sysconf("SC_CLK_TCK")


def _stat(pid):
    """(ppid, utime+stime+cutime+cstime in seconds) of a live process, or None."""
    try:
        text = Path("/proc/%d/stat" % pid).read_text()
    except OSError:
        return None
    fields = text[text.rindex(")") + 2:].split()
    ppid = int(fields[1])
    ticks = sum(int(x) for x in fields[11:15])
    return ppid, ticks / _TICK


def tree_cpu(roots):
    """CPU seconds used so far by the process trees under `roots` (live processes, plus what
    their reaped children used)."""
    procs = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            st = _stat(int(entry))
            if st:
                procs[int(entry)] = st
    children = {}
    for pid, (ppid, _) in procs.items():
        children.setdefault(ppid, []).append(pid)
    total, todo, seen = 0.0, list(roots), set()
    while todo:
        pid = todo.pop()
        if pid in seen or pid not in procs:
            continue
        seen.add(pid)
        total += procs[pid][1]
        todo += children.get(pid, [])
    return total


def _self_children_cpu():
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def measure(kind, n, work, keyword=None):
    cls = Farm if kind == "labgrid" else Rack
    t0 = time.monotonic()
    with cls(n, work, prefix="%s-" % kind[:3], say=lambda line: None) as rack:
        setup_s = time.monotonic() - t0
        junit = work / "hil.xml"
        args = ["--junit", str(junit)] + (["-k", keyword] if keyword else [])
        cpu0, mine0 = tree_cpu(rack.pids()), _self_children_cpu()
        load0 = os.getloadavg()[0]
        t1 = time.monotonic()
        r = rack.hil(*args, capture_output=True, text=True)
        wall = time.monotonic() - t1
        cpu = tree_cpu(rack.pids()) - cpu0 + _self_children_cpu() - mine0
        load1 = os.getloadavg()[0]
    rows = summarise(junit) if junit.exists() else {}
    passed = sum(row["passed"] for row in rows.values())
    failed = sum(row["failed"] for row in rows.values())
    skipped = sum(row["skipped"] for row in rows.values())
    return {"path": kind, "boards": n, "wall_s": round(wall, 1), "setup_s": round(setup_s, 1),
            "suites_per_min": round(n / wall * 60, 2), "cpu_s": round(cpu, 1),
            "cpu_s_per_board": round(cpu / n, 1), "cpu_share_of_2_cores": round(cpu / wall / 2, 2),
            "passed": passed, "failed": failed, "skipped": skipped, "exit": r.returncode,
            "load_avg_1min": [round(load0, 2), round(load1, 2)],
            "tail": r.stdout.strip().splitlines()[-1:] + r.stderr.strip().splitlines()[-1:]}


def table(results):
    lines = ["| boards | path | wall s | boards x suites / min | labgrid overhead | CPU s / board "
             "| CPU used of 2 cores | tests passed / failed / skipped | setup s |",
             "|---|---|---|---|---|---|---|---|---|"]
    direct = {(r["boards"], r["repeat"]): r["wall_s"] for r in results if r["path"] == "direct"}
    for r in results:
        base = direct.get((r["boards"], r["repeat"]))
        over = ("%+.0f%%" % ((r["wall_s"] / base - 1) * 100)) if r["path"] == "labgrid" and base \
            else ""
        lines.append("| %d | %s | %.1f | %.2f | %s | %.1f | %.0f%% | %d / %d / %d | %.1f |" % (
            r["boards"], r["path"], r["wall_s"], r["suites_per_min"], over, r["cpu_s_per_board"],
            r["cpu_share_of_2_cores"] * 100, r["passed"], r["failed"], r["skipped"], r["setup_s"]))
    return "\n".join(lines)


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m host_tools.hil.bench")
    p.add_argument("--boards", default="1,3,6")
    p.add_argument("--repeats", type=int, default=1)
    p.add_argument("--out", default="out/bench-hil")
    p.add_argument("-k", dest="keyword", help="only these tests (default: the whole suite)")
    args = p.parse_args(argv)
    out = Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    results = []
    for repeat in range(args.repeats):
        for n in [int(x) for x in args.boards.split(",")]:
            for kind in ("direct", "labgrid"):  # interleaved: the machine's load drifts
                work = out / ("%s-%d-%d" % (kind, n, repeat))
                shutil.rmtree(work, ignore_errors=True)
                r = dict(measure(kind, n, work, args.keyword), repeat=repeat)
                results.append(r)
                print("%-7s %d board(s): %6.1f s, %5.1f CPU s/board, %d passed %d failed "
                      "%d skipped (load %.1f)" % (kind, n, r["wall_s"], r["cpu_s_per_board"],
                                                 r["passed"], r["failed"], r["skipped"],
                                                 r["load_avg_1min"][1]), flush=True)
    (out / "results.json").write_text(json.dumps(results, indent=1) + "\n")
    report = table(results)
    (out / "report.md").write_text(report + "\n")
    print("\n" + report)
    print("\n(%d CPU cores here; results in %s)" % (os.cpu_count(), out))
    # A run that passed no test proves nothing: it fails the benchmark too.
    return 0 if all(r["failed"] == 0 and r["exit"] == 0 and r["passed"] for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
