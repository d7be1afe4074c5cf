"""Merge campaign reports run in parts (several processes, or a module re-run after tests were
added): python -m tools.mutation.merge OUT_DIR REPORT_DIR... ; a later part's row for a module
replaces an earlier one's. The merged report says which parts it was made of."""

import json
import sys
from pathlib import Path

from .campaign import totals, write


def merge(parts):
    merged = None
    for part in parts:
        r = json.loads((Path(part) / "report.json").read_text())
        if merged is None:
            merged = dict(r, modules={}, survivors=[], not_applicable=[], parts=[])
        merged["parts"].append({"dir": str(part), "seconds": r["seconds"],
                                "modules": list(r["modules"])})
        merged["modules"].update(r["modules"])
        merged["equivalence_reasons"].update(r.get("equivalence_reasons", {}))
        merged["not_applicable"] = [n for n in merged["not_applicable"]
                                    if n["module"] not in r["modules"]] + r["not_applicable"]
    merged["survivors"] = [dict(m, module=path) for path, row in merged["modules"].items()
                           for m in row.get("mutants", []) if m["verdict"] == "survived"]
    merged["totals"] = totals(merged["modules"])
    merged["seconds"] = round(sum(p["seconds"] for p in merged["parts"]), 1)
    return merged


def main(argv):
    out, parts = Path(argv[0]), argv[1:]
    write(merge(parts), out)
    print((out / "report.txt").read_text(), end="")


if __name__ == "__main__":
    main(sys.argv[1:])
