"""`make security-report`: every attack against a locked virtual board, the tamper classes and
the protocol fuzz campaign, with counts. Exit status 1 if anything is a VIOLATION.

    python -m host_tools.security.report [--repeats 3] [--tamper-trials 2000] [--fuzz 100000]
"""

import argparse
import sys
import tempfile
import time
from pathlib import Path

from . import VIOLATION, Outcome, attacks, fuzz, tamper

# How hard each board attack pushes in the report (the suite runs them lighter).
ATTACK_ARGS = {
    "repl_through_mpremote": {"timeout": 20},
    "repl_through_raw_bytes": {"rounds": 50},
    "ctrl_c_mid_session": {"bytes_": 1000},
    "ctrl_c_across_power_cycle": {"seconds": 3.0},
    "push_to_talk_confirms": {"rounds": 3},
}


WORST_OF = {"deploy exit", "mpremote exit", "audio bytes after withdrawal"}


def _merge(runs):
    first = runs[0]
    bad = [r for r in runs if not r.ok]
    counts = dict(first.counts)
    for r in runs[1:]:
        for k, v in r.counts.items():
            if isinstance(v, (int, float)) and isinstance(counts.get(k), (int, float)):
                # Counts add up over boards; a per-board measure reports its worst.
                counts[k] = max(counts[k], v) if k in WORST_OF else counts[k] + v
    return Outcome(first.finding, first.name, bad[0].outcome if bad else first.outcome,
                   sum(r.trials for r in runs), counts, bad[0].detail if bad else first.detail)


def main(argv=None):
    p = argparse.ArgumentParser(prog="security-report")
    p.add_argument("--repeats", type=int, default=3, help="fresh boards per board attack")
    p.add_argument("--tamper-trials", type=int, default=2000)
    p.add_argument("--fuzz", type=int, default=100_000, help="fuzz inputs")
    p.add_argument("--out", default="out/security/report.txt")
    args = p.parse_args(argv)
    t0 = time.monotonic()
    lines = []

    def say(line=""):
        print(line, flush=True)
        lines.append(line)

    outcomes = []
    with tempfile.TemporaryDirectory(prefix="earshot-security-") as tmp:
        tmp = Path(tmp)
        image = attacks.locked_image(tmp / "image")
        say("Earshot security report (docs/threat-model.md): attacks on a locked virtual board")
        say("%-4s %-46s %-9s %s" % ("item", "attack", "outcome", "counts"))
        for n, attack in enumerate(attacks.ATTACKS):
            runs = []
            for r in range(args.repeats):
                with attacks.Household(image, tmp / ("a%d-%d" % (n, r))) as h:
                    runs.append(attack(h, **ATTACK_ARGS.get(attack.__name__, {})))
            outcomes.append(_merge(runs))
            say(outcomes[-1].line() + " (boards: %d)" % args.repeats)
        outcomes.append(_merge([attacks.fed_wake_word_is_marked(tmp / ("fed%d" % r))
                                for r in range(args.repeats)]))
        say(outcomes[-1].line() + " (boards: %d)" % args.repeats)
        for o in tamper.campaign(args.tamper_trials):
            outcomes.append(o)
            say(o.line())
        with attacks.Household(image, tmp / "fuzz", consent="private") as h:
            o = fuzz.run(h, args.fuzz, seed=2024,
                         progress=lambda s, a: print("  fuzz: %d sent, %d answered" % (s, a),
                                                     file=sys.stderr, flush=True)
                         if s % 10000 < 16 else None)
        outcomes.append(o)
        say(o.line())
    bad = [o for o in outcomes if o.outcome == VIOLATION]
    say()
    say("attacks: %d, refused: %d, detected: %d, violations: %d (%.0f s)" % (
        len(outcomes), sum(o.outcome == "refused" for o in outcomes),
        sum(o.outcome == "detected" for o in outcomes), len(bad), time.monotonic() - t0))
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(lines) + "\n")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
