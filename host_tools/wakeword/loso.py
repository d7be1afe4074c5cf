"""Leave speakers out: does the recipe hear people it never trained on?

    python -m host_tools.wakeword.loso --word alexa [--folds flite:awb piper:joe kokoro:jm_kumo]

Each fold is one or more whole train speakers (comma-separated; a Kokoro base takes every blend
made with it along). Per fold the recipe trains without them, then their train clips are scored
with the threshold that keeps false accepts at <= 0.5 per hour on the held split's negatives
(10 h, speakers the recipe never trains on). The held and dev speakers are out of every training
already; `earshot wakeword eval --split held|dev` reports them per speaker.

Writes out/loso/<slug>/<fold>.{bin,json} and out/loso/<slug>/report.{md,json}.
"""

import argparse
import json
import sys
import time
from pathlib import Path

from ..errors import EarshotError
from . import dataset_text
from . import model as M
from . import score as S
from . import train as T

DEFAULT_FOLDS = ("flite:awb", "piper:joe", "kokoro:jm_kumo")


def run(word, folds, steps, seed=0, data=None, out=None, log=print):
    slug = dataset_text.slug(word)
    root = Path(data or Path("data/wakeword") / slug)
    out = Path(out or Path("out/loso") / slug)
    out.mkdir(parents=True, exist_ok=True)
    report = {"word": word, "steps": steps, "seed": seed, "folds": {}}
    for fold in folds:
        speakers = fold.split(",")
        name = "fold-" + "-".join(s.replace(":", "_").replace("*", "x") for s in speakers)
        t0 = time.time()
        T.train(word, root, out, steps, seed=seed, log=log, exclude_speakers=speakers, name=name)
        train_s = time.time() - t0
        qm, man = M.load(out / (name + ".bin"), out / (name + ".json"))
        res = S.evaluate(qm, man, root / "train", log=log, speakers=speakers,
                         neg_split=root / "held")
        res["train_seconds"] = round(train_s, 1)
        report["folds"][fold] = res
        log("fold %s: trained in %.0f s\n%s" % (fold, train_s, S.speaker_table(res)))
        (out / "report.json").write_text(json.dumps(report, indent=1))
    (out / "report.md").write_text(markdown(report))
    return report


def markdown(report):
    lines = ["# Leave speakers out: %s (%d steps, seed %d)" % (report["word"], report["steps"],
                                                              report["seed"]), "",
             "FRR of each left-out speaker's train clips at <= 0.5 FA/h on the held split's "
             "negatives.", "",
             "| left out | speaker | clips | FRR clean + 20 dB | FRR all conditions | "
             "near-miss triggers | FA/h | training s |", "|---|---|---|---|---|---|---|---|"]
    for fold, res in report["folds"].items():
        at = res["at"].get("0.50")
        if at is None:
            lines.append("| %s | - | - | no threshold reaches 0.5 FA/h | | | | |" % fold)
            continue
        for spk, v in at["per_speaker"].items():
            easy = "-" if v["false_reject_easy"] is None else "%.1f %%" % (100 * v["false_reject_easy"])
            lines.append("| %s | %s | %d | %s | %.1f %% | %.1f %% | %.2f | %.0f |" % (
                fold, spk, v["clips"], easy, 100 * v["false_reject"],
                100 * (at["near_miss_trigger"] or 0), at["fa_per_hour"], res["train_seconds"]))
    return "\n".join(lines) + "\n"


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m host_tools.wakeword.loso")
    p.add_argument("--word", required=True)
    p.add_argument("--folds", nargs="+", default=list(DEFAULT_FOLDS),
                   help="each fold: whole speakers, comma-separated (default: each train speaker)")
    p.add_argument("--steps", type=int, default=8000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--data", help="dataset root (default data/wakeword/<slug>)")
    p.add_argument("--out", help="output folder (default out/loso/<slug>)")
    a = p.parse_args(argv)
    try:
        rep = run(a.word, a.folds, a.steps, a.seed, a.data, a.out,
                  log=lambda m: print(m, file=sys.stderr, flush=True))
    except EarshotError as e:
        print("loso: %s" % e, file=sys.stderr)
        return 1
    print(markdown(rep))
    return 0


if __name__ == "__main__":
    sys.exit(main())
