"""python -m tools.mutation [--max N] [--seed S] [--modules a.py,b.py] [--timeout S] [--out DIR]
(`make mutation-report` runs it; docs/mutation.md)."""

import argparse
import sys
from pathlib import Path

from .campaign import run

ROOT = Path(__file__).resolve().parents[2]


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m tools.mutation")
    ap.add_argument("--max", type=int, default=None,
                    help="generated mutants per module, sampled with --seed (default: all)")
    ap.add_argument("--seed", default="23")
    ap.add_argument("--modules", default="",
                    help="comma-separated module paths (default: all of modules.json)")
    ap.add_argument("--timeout", type=float, default=240, help="seconds per mutant")
    ap.add_argument("--out", default=str(ROOT / "out" / "mutation"))
    ap.add_argument("--semantic-only", action="store_true",
                    help="only the issue's named mutants (semantic.json)")
    ap.add_argument("--tests", default="",
                    help="comma-separated tests to run instead of the module's mapped ones")
    ap.add_argument("--env", action="append", default=[],
                    help="NAME=VALUE for the tests' environment (repeatable)")
    ap.add_argument("--names", default="",
                    help="comma-separated names of semantic mutants to keep (semantic.json)")
    ap.add_argument("--recheck", metavar="REPORT_DIR",
                    help="run only the survivors of that report again (after adding tests)")
    a = ap.parse_args(argv)
    names = [n.strip() for n in a.names.split(",") if n.strip()] or None
    tests = [t.strip() for t in a.tests.split(",") if t.strip()] or None
    env = dict(e.split("=", 1) for e in a.env)
    if a.recheck:
        from .campaign import recheck

        recheck(ROOT, a.recheck, a.out, a.timeout, log=lambda s: print(s, flush=True))
        print((Path(a.out) / "report.txt").read_text(), end="")
        return 0
    only = [m.strip() for m in a.modules.split(",") if m.strip()] or None
    report = run(ROOT, a.out, a.max, a.seed, only, a.timeout, a.semantic_only,
                 log=lambda s: print(s, flush=True), tests=tests, env=env, names=names)
    print((Path(a.out) / "report.txt").read_text(), end="")
    t = report["totals"]
    return 0 if not t["errors"] else 1


if __name__ == "__main__":
    sys.exit(main())
