"""Print the figures `make privacy-report` collected (scenarios, steps, trials, violations).

    python -m host_tools.hil.privacy_report REPORT_DIR PYTEST_STATUS TEST_FILE...

It fails (exit 1, saying why) unless pytest passed, every test file the make target names ran
at least one test (a file that moved would otherwise run nothing and report nothing), and both
campaigns left their figures: a report of zeros is not a report.
"""

import json
import sys
import xml.etree.ElementTree as ET
from pathlib import Path


def tests_per_file(junit, files):
    """{file: number of tests that ran from it} from a JUnit XML (xunit1: `file` per case)."""
    counts = dict.fromkeys(files, 0)
    if not Path(junit).exists():
        return counts
    for case in ET.parse(junit).getroot().iter("testcase"):
        if case.find("skipped") is not None:
            continue
        name = case.get("file") or case.get("classname", "").replace(".", "/") + ".py"
        for f in files:
            if name == f or name.startswith(f[:-3] + "/"):
                counts[f] += 1
    return counts


def main(report_dir, pytest_status, files):
    d = Path(report_dir)
    scen = json.loads((d / "scenarios.json").read_text()) if (d / "scenarios.json").exists() else {}
    cuts = json.loads((d / "powercut.json").read_text()) if (d / "powercut.json").exists() else {}
    counts = tests_per_file(d / "junit.xml", files)
    problems = ["%s ran no test (moved or renamed? name it in mk/privacy.mk; or PRIVACY_K "
                "left none of it)" % f for f, n in counts.items() if not n]
    if not scen.get("scenarios"):
        problems.append("no household scenario was run (tests/test_privacy_scenarios.py)")
    if not cuts.get("trials"):
        problems.append("no power-cut trial was run (tests/test_store_powercut.py)")
    if pytest_status != "0":
        problems.append("pytest exited %s: see the failures above" % pytest_status)
    print("Earshot privacy report")
    print("  tests run: %d (%s)" % (sum(counts.values()), ", ".join(
        "%s %d" % (Path(f).name, n) for f, n in counts.items())))
    print("  household scenarios (hypothesis, virtual board): %d, steps %d, sessions verified %d"
          % (scen.get("scenarios", 0), scen.get("steps", 0), scen.get("sessions", 0)))
    print("  most bytes sent outside a session in one scenario: %d"
          % scen.get("max_bytes_outside_sessions", 0))
    print("  power-cut trials: %d (inside a state save %s, inside a log append %s)"
          % (cuts.get("trials", 0), cuts.get("inside_state_save", "?"),
             cuts.get("inside_log_append", "?")))
    print("  violations found: %s" % ("0" if pytest_status == "0" else "SEE FAILURES ABOVE"))
    for p in problems:
        print("privacy-report: %s" % p, file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    if len(sys.argv) < 4:
        sys.exit("usage: python -m host_tools.hil.privacy_report REPORT_DIR PYTEST_STATUS "
                 "TEST_FILE...")
    sys.exit(main(sys.argv[1], sys.argv[2], sys.argv[3:]))
