"""A dose of `make mutation-report` (docs/mutation.md): the target as a developer runs it, on
one fast module (the bridge's pipelines: host code, its tests take seconds), three generated
mutants with a fixed seed plus the named bugs of issue 23 that live there. The report's figures
must add up, and the named bugs must be killed by the tests mapped to the module."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tools.mutation.campaign import plan
from tools.mutation.operators import generate, semantic

ROOT = Path(__file__).resolve().parents[1]
MODULE = "host_tools/bridge/pipelines.py"


@pytest.mark.xdist_group("mutation")
def test_make_mutation_report_kills_the_named_bugs_and_its_figures_add_up(tmp_path):
    out = tmp_path / "mutation"
    env = dict(os.environ)
    env.pop("PYTEST_XDIST_WORKER", None)
    r = subprocess.run(
        ["make", "-s", "-C", str(ROOT), "-o", ".venv/.installed", "mutation-report",
         "BIN=%s" % Path(sys.executable).parent, "MUTATION_MAX=3", "MUTATION_SEED=23",
         "MUTATION_MODULES=%s" % MODULE, "MUTATION_TIMEOUT=120", "MUTATION_OUT=%s" % out],
        capture_output=True, text=True, timeout=900, env=env)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    report = json.loads((out / "report.json").read_text())
    row = report["modules"][MODULE]
    assert "baseline" not in row, row["baseline"]
    named = [m for m in row["mutants"] if m["operator"] == "semantic"]
    assert {m["id"] for m in named} == {"bridge-forwards-without-cloud",
                                         "bridge-ignores-human-review"}
    assert all(m["verdict"] == "killed" for m in named), named
    assert row["tried"] == 3 + len(named) == len(row["mutants"])
    assert row["killed"] + row["survived"] + row["equivalent"] + row["timeout"] + \
        row["errors"] == row["tried"]
    t = report["totals"]
    assert t["errors"] == 0 and t["kill_rate"] >= 0.95, t
    text = (out / "report.txt").read_text()
    assert MODULE in text and "kill rate" in text and "bridge-ignores-human-review" in text


def test_mutants_are_generated_from_the_current_source_and_named_ones_say_not_applicable():
    text = (ROOT / MODULE).read_text()
    mutants = generate(MODULE, text)
    ops = {m.operator for m in mutants}
    assert {"cmp", "not", "const", "return"} <= ops
    for m in mutants:  # each is one small edit that still parses
        compile(m.apply(text), MODULE, "exec")
        assert m.before != m.after
    spec = {"name": "x", "path": MODULE, "search": "u not in consent", "replace": "u in consent"}
    assert semantic(MODULE, text, spec).after.count("u in consent")
    gone = dict(spec, search="a line this module no longer has")
    assert semantic(MODULE, text, gone) is None
    chosen = plan(ROOT, [MODULE], 3, 23, [gone])[MODULE]
    assert chosen["not_applicable"] == ["x"] and len(chosen["mutants"]) == 3
    again = plan(ROOT, [MODULE], 3, 23, [])[MODULE]["mutants"]
    assert [m.ident for m in again] == [m.ident for m in chosen["mutants"]]  # seeded


def test_the_led_and_mic_order_is_a_generated_swap_where_the_calls_are_adjacent():
    text = "def f(hw):\n    hw.mic_stop()\n    hw.set_mute_led(True)\n"
    swaps = [m for m in generate("x.py", text) if m.operator == "swap"]
    assert [m.apply(text) for m in swaps] == [
        "def f(hw):\n    hw.set_mute_led(True)\n    hw.mic_stop()\n"]


def test_every_named_bug_still_applies_to_the_current_source():
    # A named bug whose target text changed is reported "not applicable" and silently stops
    # being checked: `mute-sends-queued-audio` did, when forward.py learnt `host_slow`. Each
    # one must still match exactly once, and still change the code.
    root = Path(__file__).resolve().parent.parent
    specs = json.loads((root / "tools" / "mutation" / "semantic.json").read_text())["mutants"]
    gone = [s["name"] for s in specs
            if semantic(s["path"], (root / s["path"]).read_text(), s) is None]
    assert not gone, "named bugs whose code changed (update semantic.json): %s" % gone
    assert all(s["search"] != s["replace"] for s in specs)
