"""Print the figures `make privacy-report` collected (scenarios, steps, trials, violations)."""

import json
import sys
from pathlib import Path


def main(report_dir, pytest_status):
    d = Path(report_dir)
    scen = json.loads((d / "scenarios.json").read_text()) if (d / "scenarios.json").exists() else {}
    cuts = json.loads((d / "powercut.json").read_text()) if (d / "powercut.json").exists() else {}
    ok = pytest_status == "0"
    print("Earshot privacy report")
    print("  household scenarios (hypothesis, virtual board): %d, steps %d, sessions verified %d"
          % (scen.get("scenarios", 0), scen.get("steps", 0), scen.get("sessions", 0)))
    print("  most bytes sent outside a session in one scenario: %d"
          % scen.get("max_bytes_outside_sessions", 0))
    print("  power-cut trials: %d (inside a state save %s, inside a log append %s)"
          % (cuts.get("trials", 0), cuts.get("inside_state_save", "?"), cuts.get("inside_log_append", "?")))
    print("  violations found: %s" % ("0" if ok else "SEE FAILURES ABOVE"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
