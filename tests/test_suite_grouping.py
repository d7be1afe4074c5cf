"""The suite's own scheduling: `make test` runs `pytest -n 2 --dist loadgroup`, and each module
that shares one expensive thing between its tests (one Home Assistant, one simulator, one board
farm) marks itself with an xdist_group so that all its tests run on one worker, in file order,
with one module-scoped fixture.

pytest 9.2 with pytest-xdist 3.8 silently stopped honouring those marks
(pytest-dev/pytest-xdist#1386): the tests of a group were dealt out to both workers, each
worker built its own copy of the module's fixture, and a Home Assistant test that relies on an
earlier one (in file order) ran on the other worker first. CI failed on it after 300 s of
waiting. This test runs a tiny suite the same way and checks that every group stays on one
worker, so the pin in pyproject.toml cannot drift back unnoticed.
"""

import json
import os
import subprocess
import sys
from collections import defaultdict

import pytest

GROUPED_AS_A_LIST = '''
import json, os, pytest
pytestmark = [pytest.mark.xdist_group("house"), pytest.mark.skipif(False, reason="never")]

def _log(name):
    with open(os.environ["WHERE"], "a") as f:
        f.write(json.dumps({"test": name, "group": "house",
                            "worker": os.environ.get("PYTEST_XDIST_WORKER")}) + "\\n")

%s
'''

GROUPED_BY_DECORATOR = '''
import json, os, pytest

def _log(name):
    with open(os.environ["WHERE"], "a") as f:
        f.write(json.dumps({"test": name, "group": "farm",
                            "worker": os.environ.get("PYTEST_XDIST_WORKER")}) + "\\n")

%s
'''

UNGROUPED = '''
import time

%s
'''


def _tests(prefix, n, body, decorator=""):
    return "\n".join("%sdef test_%s%d():\n    %s\n" % (decorator, prefix, i, body % (prefix, i))
                     for i in range(n))


def test_make_tests_scheduling_keeps_every_xdist_group_on_one_worker(tmp_path):
    (tmp_path / "test_house.py").write_text(
        GROUPED_AS_A_LIST % _tests("h", 6, "_log('%s%d')"))
    (tmp_path / "test_farm.py").write_text(
        GROUPED_BY_DECORATOR % _tests("f", 4, "_log('%s%d')",
                                      '@pytest.mark.xdist_group("farm")\n'))
    (tmp_path / "test_loose.py").write_text(UNGROUPED % _tests("l", 6, "time.sleep(0.05)  # %s%d"))
    where = tmp_path / "where.jsonl"
    # The flags of the Makefile's `test` target (and host_tools/busy.py's).
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-n", "2", "--dist", "loadgroup",
         "-p", "no:cacheprovider", str(tmp_path)],
        cwd=tmp_path, capture_output=True, text=True, timeout=300,
        # Not the outer run's PYTEST_XDIST_WORKER (nor its PYTEST_ADDOPTS): the tiny suite's
        # workers must be its own for "ran under xdist" to mean anything.
        env={**{k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")},
             "WHERE": str(where)})
    assert run.returncode == 0, run.stdout + run.stderr
    rows = [json.loads(line) for line in where.read_text().splitlines()]
    assert len(rows) == 10, rows
    workers = defaultdict(set)
    for row in rows:
        workers[row["group"]].add(row["worker"])
    assert all(w is not None for ws in workers.values() for w in ws), \
        "the tiny suite did not run under xdist: %s" % rows
    assert {g: len(ws) for g, ws in workers.items()} == {"house": 1, "farm": 1}, (
        "an xdist_group's tests ran on more than one worker: %s (pytest %s with this "
        "pytest-xdist does not honour xdist_group: see pyproject.toml's pin)"
        % (dict(workers), pytest.__version__))
    # In file order within a group, as the modules that rely on an earlier test expect.
    house = [r["test"] for r in rows if r["group"] == "house"]
    assert house == ["h%d" % i for i in range(6)]
