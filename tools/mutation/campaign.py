"""The mutation campaign over the privacy-critical modules (docs/mutation.md, `make
mutation-report`).

For each module in modules.json: the mutants its operators generate from the current source
(operators.py), a seeded sample of at most MUTATION_MAX of them, plus the issue's named semantic
mutants (semantic.json, search/replace; "not applicable" when the code they target changed).
Each mutant is applied in a private copy of the tree and only the tests mapped to its module
run there (pytest -x, one process, a timeout per mutant). The verdict:

  killed          a mapped test failed (or the mutant made the module unloadable)
  survived        every mapped test passed: a bug the tests would let through
  equivalent      survived, and equivalent.json says why it cannot change behaviour (reviewed)
  timeout         the tests ran past MUTATION_TIMEOUT (counted as killed by most tools; shown
                  apart here)
  not applicable  a semantic mutant whose target text is no longer in the source

Before any mutant, the mapped tests run once on the unmutated copy: a module whose own tests
fail is reported as such and none of its mutants counts.
"""

import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from .operators import generate, semantic

HERE = Path(__file__).resolve().parent
COPY = ("firmware", "host_tools", "boards", "tests", "pyproject.toml", "setup.py", "README.md",
        "docs", "mk", "Makefile")
IGNORE = shutil.ignore_patterns("__pycache__", "*.pyc", ".hypothesis", ".pytest_cache")


def _load(name):
    return json.loads((HERE / name).read_text())


class Tree:
    """A private copy of the repository where one mutant at a time is applied."""

    def __init__(self, root, workdir):
        self.root = Path(root)
        self.dir = Path(workdir) / "tree"
        self.dir.mkdir(parents=True)
        for name in COPY:
            src = self.root / name
            if src.is_dir():
                shutil.copytree(src, self.dir / name, ignore=IGNORE, symlinks=True)
            elif src.exists():
                shutil.copy2(src, self.dir / name)

    def run(self, tests, timeout, env_extra=None):
        """Run pytest on `tests` inside the copy: ('pass'|'fail'|'timeout', seconds, tail)."""
        env = dict(os.environ)
        env["PYTHONPATH"] = str(self.dir)  # the copy's host_tools, not the editable install's
        env["PYTHONDONTWRITEBYTECODE"] = "1"
        env.pop("PYTEST_XDIST_WORKER", None)
        env.pop("PYTEST_ADDOPTS", None)
        env.update(env_extra or {})
        home = tempfile.mkdtemp(prefix="home-", dir=self.dir.parent)
        env["EARSHOT_HOME"] = home
        cmd = [sys.executable, "-m", "pytest", "-x", "-q", "-n", "0", "-p", "no:cacheprovider",
               "-p", "no:randomly", "--no-header", "-W", "ignore"] + list(tests)
        t0 = time.monotonic()
        proc = subprocess.Popen(cmd, cwd=self.dir, env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True, start_new_session=True)
        try:
            out, _ = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, 9)  # the pytest process group: its virtual boards too
            proc.communicate()
            shutil.rmtree(home, ignore_errors=True)
            return "timeout", time.monotonic() - t0, ""
        shutil.rmtree(home, ignore_errors=True)
        verdict = "pass" if proc.returncode == 0 else "fail"
        tail = "\n".join(out.strip().splitlines()[-3:])
        if proc.returncode in (4, 5):  # usage error, no test collected: the map is wrong
            verdict = "error"
        return verdict, time.monotonic() - t0, tail

    def mutate(self, mutant):
        path = self.dir / mutant.path
        original = path.read_text()
        path.write_text(mutant.apply(original))
        return original

    def restore(self, mutant, original):
        (self.dir / mutant.path).write_text(original)


def plan(root, modules, max_per_module, seed, semantic_specs, only=None):
    """{module: {"generated": n, "mutants": [Mutant...], "not_applicable": [names]}}."""
    out = {}
    for path in (only or modules):  # in the order asked for
        if path not in modules:
            raise SystemExit("%s is not in tools/mutation/modules.json" % path)
        text = (Path(root) / path).read_text()
        generated = generate(path, text)
        rng = random.Random("%s:%s" % (seed, path))
        sample = list(generated)
        if max_per_module is not None and len(sample) > max_per_module:
            sample = sorted(rng.sample(sample, max_per_module), key=lambda m: m.start)
        named, missing = [], []
        for spec in semantic_specs:
            if spec["path"] != path:
                continue
            m = semantic(path, text, spec)
            (named.append(m) if m else missing.append(spec["name"]))
        out[path] = {"generated": len(generated), "mutants": named + sample,
                     "not_applicable": missing}
    return out


def _equivalent(mutant, table):
    for e in table["mutants"]:
        if e["path"] == mutant.path and e["before"] == mutant.before and \
                e["after"] == mutant.after:
            return e["reason"], table["reasons"][e["reason"]]
    return None


def run(root, out_dir, max_per_module=None, seed=23, only=None, timeout=240, semantic_only=False,
        log=print, tests=None, env=None, names=None):
    """The campaign; `tests` replaces every module's mapped tests (to watch one test kill the
    named mutants), `env` is added to the tests' environment."""
    modules = _load("modules.json")
    specs = [s for s in _load("semantic.json")["mutants"] if not names or s["name"] in names]
    equivalents = _load("equivalent.json")
    t_start = time.monotonic()
    if names and not only:
        only = sorted({s["path"] for s in specs})
    chosen = plan(root, modules, 0 if semantic_only else max_per_module, seed, specs, only)
    report = {"seed": seed, "max_per_module": max_per_module, "timeout_s": timeout,
              "modules": {}, "survivors": [], "not_applicable": []}
    work = tempfile.mkdtemp(prefix="earshot-mutation-")
    try:
        tree = Tree(root, work)
        for path, p in chosen.items():
            mapped = tests or modules[path]
            row = {"generated": p["generated"], "tried": len(p["mutants"]), "killed": 0,
                   "survived": 0, "equivalent": 0, "timeout": 0,
                   "not_applicable": len(p["not_applicable"]), "errors": 0, "seconds": 0.0,
                   "tests": mapped, "mutants": []}
            report["not_applicable"] += [{"module": path, "name": n}
                                         for n in p["not_applicable"]]
            if not p["mutants"]:
                continue  # nothing to run here (only the named mutants, none for this module)
            t0 = time.monotonic()
            base, secs, tail = tree.run(mapped, timeout * 2, env)
            if base == "fail":  # once more: a loaded machine can make a board test late
                log("%s: the mapped tests failed unmutated, once more:\n%s" % (path, tail))
                base, secs, tail = tree.run(mapped, timeout * 2, env)
            if base != "pass":
                row["baseline"] = "%s (%.0f s): %s" % (base, secs, tail)
                log("%s: the mapped tests do not pass unmutated (%s); skipped:\n%s"
                    % (path, base, tail))
                row["seconds"] = round(time.monotonic() - t0, 1)
                report["modules"][path] = row
                continue
            log("%s: %d mutants of %d generated (baseline %.0f s)" % (
                path, len(p["mutants"]), p["generated"], secs))
            for m in p["mutants"]:
                original = tree.mutate(m)
                try:
                    verdict, secs, tail = tree.run(mapped, timeout, env)
                finally:
                    tree.restore(m, original)
                entry = {"id": m.ident, "operator": m.operator, "line": m.line,
                         "before": m.before, "after": m.after, "seconds": round(secs, 1)}
                if m.promise:
                    entry["promise"] = m.promise
                if verdict == "fail":
                    entry["verdict"] = "killed"
                    entry["by"] = tail.splitlines()[-1] if tail else ""
                    row["killed"] += 1
                elif verdict == "timeout":
                    entry["verdict"] = "timeout"
                    row["timeout"] += 1
                elif verdict == "error":
                    entry["verdict"] = "error"
                    entry["by"] = tail
                    row["errors"] += 1
                else:
                    eq = _equivalent(m, equivalents)
                    if eq:
                        entry["verdict"] = "equivalent"
                        entry["reason"] = eq[0]
                        row["equivalent"] += 1
                    else:
                        entry["verdict"] = "survived"
                        row["survived"] += 1
                        report["survivors"].append(dict(entry, module=path))
                row["mutants"].append(entry)
                log("  %-10s %5.1fs %s" % (entry["verdict"], secs, m.ident))
            row["seconds"] = round(time.monotonic() - t0, 1)
            report["modules"][path] = row
            _partial(report, out_dir, t_start, equivalents)  # a long campaign shows progress
    finally:
        shutil.rmtree(work, ignore_errors=True)
    report["totals"] = totals(report["modules"])
    report["seconds"] = round(time.monotonic() - t_start, 1)
    report["equivalence_reasons"] = equivalents["reasons"]
    write(report, Path(out_dir))
    return report


def _partial(report, out_dir, t_start, equivalents):
    report["totals"] = totals(report["modules"])
    report["seconds"] = round(time.monotonic() - t_start, 1)
    report["equivalence_reasons"] = equivalents["reasons"]
    write(report, Path(out_dir))


def totals(modules):
    t = {k: 0 for k in ("tried", "killed", "survived", "equivalent", "timeout",
                        "not_applicable", "errors")}
    for row in modules.values():
        if "baseline" in row:
            continue
        for k in t:
            t[k] += row[k]
    judged = t["killed"] + t["survived"] + t["timeout"]
    # Kill rate over non-equivalent mutants; a timeout is a detection (the tests did not pass).
    t["kill_rate"] = round((t["killed"] + t["timeout"]) / judged, 4) if judged else None
    return t


def write(report, out_dir):
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "report.json").write_text(json.dumps(report, indent=1))
    (out_dir / "report.txt").write_text(render(report))


def render(report):
    lines = ["Mutation campaign (seed %s, at most %s generated mutants per module, %s s per "
             "mutant)" % (report["seed"], report["max_per_module"] or "all",
                          report["timeout_s"]), ""]
    head = "%-36s %5s %5s %6s %6s %5s %4s %4s %7s" % (
        "module", "gen", "tried", "killed", "surviv", "equiv", "tout", "n/a", "seconds")
    lines += [head, "-" * len(head)]
    for path, row in report["modules"].items():
        if "baseline" in row:
            lines.append("%-36s BASELINE FAILED: %s" % (path, row["baseline"]))
            continue
        lines.append("%-36s %5d %5d %6d %6d %5d %4d %4d %7.0f" % (
            path, row["generated"], row["tried"], row["killed"], row["survived"],
            row["equivalent"], row["timeout"], row["not_applicable"], row["seconds"]))
    t = report["totals"]
    rate = "-" if t["kill_rate"] is None else "%.1f%%" % (100 * t["kill_rate"])
    lines += ["-" * len(head),
              "total: %d tried, %d killed, %d survived, %d equivalent, %d timeout, %d not "
              "applicable, %d errors; kill rate %s of non-equivalent mutants; %.0f s" % (
                  t["tried"], t["killed"], t["survived"], t["equivalent"], t["timeout"],
                  t["not_applicable"], t["errors"], rate, report["seconds"]), ""]
    named = [(p, m) for p, row in report["modules"].items() for m in row.get("mutants", [])
             if m["operator"] == "semantic"]
    if named:
        lines.append("The issue's named bugs:")
        for p, m in named:
            lines.append("  %-9s %s (%s)" % (m["verdict"], m["id"], m.get("by", "")[:60]))
    for n in report["not_applicable"]:
        lines.append("  n/a       %s (%s: its target text changed)" % (n["name"], n["module"]))
    if report["survivors"]:
        lines += ["", "Survivors (bugs no mapped test catches):"]
        for s in report["survivors"]:
            lines.append("  %s:%d %s\n      was: %s" % (s["module"], s["line"], s["after"],
                                                       s["before"]))
    eq = [(p, m) for p, row in report["modules"].items() for m in row.get("mutants", [])
          if m["verdict"] == "equivalent"]
    if eq:
        lines += ["", "Equivalent (reviewed, equivalent.json):"]
        for p, m in eq:
            lines.append("  %s:%d %s -- %s" % (p, m["line"], m["after"],
                                              report["equivalence_reasons"][m["reason"]]))
    return "\n".join(lines) + "\n"


def recheck(root, report_dir, out_dir, timeout=240, log=print):
    """Run again, against the current tests, only the mutants that survived in an earlier
    report (found again by module and line before/after); the report with their new verdicts.
    This is how tests added for survivors are shown to kill them without a whole campaign."""
    report = json.loads((Path(report_dir) / "report.json").read_text())
    modules = _load("modules.json")
    equivalents = _load("equivalent.json")
    specs = {s["name"]: s for s in _load("semantic.json")["mutants"]}
    t_start = time.monotonic()
    work = tempfile.mkdtemp(prefix="earshot-mutation-")
    try:
        tree = Tree(root, work)
        for path, row in report["modules"].items():
            todo = [m for m in row.get("mutants", []) if m["verdict"] == "survived"]
            if not todo:
                continue
            text = (Path(root) / path).read_text()
            generated = generate(path, text)
            # The same line text can occur twice in a module: the line number decides; only if
            # the code moved is the text alone used.
            by_line = {(m.line, m.before, m.after): m for m in generated}
            by_text = {(m.before, m.after): m for m in generated}
            for entry in todo:
                if entry["operator"] == "semantic":
                    m = semantic(path, text, specs[entry["id"]]) if entry["id"] in specs else None
                else:
                    m = by_line.get((entry["line"], entry["before"], entry["after"])) or \
                        by_text.get((entry["before"], entry["after"]))
                if m is None:
                    entry["verdict"] = "not applicable"
                    row["survived"] -= 1
                    row["not_applicable"] += 1
                    continue
                eq = _equivalent(m, equivalents)
                if eq:
                    verdict = "pass"
                else:
                    original = tree.mutate(m)
                    try:
                        verdict, secs, tail = tree.run(modules[path], timeout)
                    finally:
                        tree.restore(m, original)
                    entry["seconds"] = round(secs, 1)
                if eq:
                    entry["verdict"], entry["reason"] = "equivalent", eq[0]
                    row["survived"] -= 1
                    row["equivalent"] += 1
                elif verdict in ("fail", "timeout"):
                    entry["verdict"] = "killed" if verdict == "fail" else "timeout"
                    entry["by"] = (tail.splitlines()[-1] if tail else "") + " (recheck)"
                    row["survived"] -= 1
                    row["killed" if verdict == "fail" else "timeout"] += 1
                log("  recheck %-10s %s" % (entry["verdict"], m.ident))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    report["survivors"] = [dict(m, module=p) for p, row in report["modules"].items()
                           for m in row.get("mutants", []) if m["verdict"] == "survived"]
    report["totals"] = totals(report["modules"])
    report["recheck_seconds"] = round(time.monotonic() - t_start, 1)
    report["equivalence_reasons"] = equivalents["reasons"]
    write(report, Path(out_dir))
    return report
