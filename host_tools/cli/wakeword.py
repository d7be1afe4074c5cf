"""`earshot wakeword ...`: score, detect, train, evaluate, dataset.

    earshot wakeword score --model alexa a.wav b.wav   one JSON line per file (scores per hop)
    earshot wakeword detect --model alexa a.wav        detection times at the shipped threshold
    earshot wakeword train "hey jarvis"                dataset -> firmware/models/hey_jarvis.*
    earshot wakeword eval --model alexa [--split dev|held]  false rejects at a false-accept budget,
                                                       per condition and per speaker
    earshot wakeword dataset --word alexa              build the synthetic dataset

numpy is imported only when a subcommand runs; torch only by `train`.
"""

import json
import sys

from ..errors import EarshotError, UsageError
from .common import Number, Progress, add_json_argument, nonempty, print_json

COUNT = Number(int, low=1)  # steps, workers
SEED = Number(int, low=0)
HOURS = Number(float, low=0, above=True, of="hours")
SHARE = Number(float, low=0, high=1)


def _score(args):
    from ..wakeword import score as S
    qm, man = S.load(args.model)
    for path in args.wav:
        s = S.score_file(qm, man, path)
        print(json.dumps({"file": path, "hop_s": man["hop_s"], "scores": [int(v) for v in s]}))
    return 0


def _detect(args):
    from ..wakeword import model as M
    from ..wakeword import score as S
    qm, man = S.load(args.model)
    if args.threshold is not None:
        man = dict(man, threshold=args.threshold)
    for path in args.wav:
        s = S.score_file(qm, man, path)
        times = [round((i + 1) * man["hop_s"], 2) for i in M.detections(s, man)]
        print(json.dumps({"file": path, "word": man["word"], "threshold": man["threshold"],
                          "detections_s": times}))
    return 0


def _train(args):
    from ..wakeword import train as T
    if args.build_data:
        from ..wakeword import dataset as D
        rc = D.main(["--word", args.phrase])
        if rc:
            return rc
    T.train(args.phrase, args.data, args.out, args.steps, seed=args.seed, log=Progress(),
            exclude_speakers=args.exclude_speakers, max_near_miss=args.max_near_miss,
            band_share=args.band_share, band_per=args.band_per)
    return 0


def _eval(args):
    from pathlib import Path
    from ..wakeword import dataset_text
    from ..wakeword import score as S
    qm, man = S.load(args.model)
    if args.split not in SPLITS:
        raise EarshotError("unknown split %r (choose from %s)" % (args.split, ", ".join(SPLITS)))
    root = Path(args.data or Path("data/wakeword") / dataset_text.slug(man["word"]))
    neg = root / args.neg_split if args.neg_split else None
    res = S.evaluate(qm, man, root / args.split, log=lambda m: print(m, file=sys.stderr),
                     speakers=args.speakers, neg_split=neg, lowpass=args.lowpass)
    print(json.dumps(res, indent=1))
    return 0


SPLITS = ("train", "held", "dev")


def _dataset(args):
    from ..wakeword import dataset as D

    root = args.out or D.default_root(args.word)
    meta = D.build(args.word, root, seed=args.seed, scale=args.scale, workers=args.workers,
                   dev_neg_hours=args.dev_neg_hours, train_neg_hours=args.train_neg_hours,
                   dev_scale=args.dev_scale,
                   force=args.force, log=Progress(quiet=args.json),
                   neural=not args.no_neural, negatives_from=args.negatives_from)
    if args.json:
        print_json({"root": root, "splits": meta["splits"], "seconds": meta.get("seconds")})
    else:
        print("dataset for %r in %s: %s" % (args.word, root, ", ".join(
            "%s %d files" % (split, s["files"]) for split, s in meta["splits"].items())))
    return 0


# name -> (handler, help)
SUBCOMMANDS = {
    "score": (_score, "smoothed score per 20 ms hop for each WAV, as JSON lines"),
    "detect": (_detect, "detection times (s) for each WAV at the model's threshold"),
    "train": (_train, "train a model for a phrase on its dataset's train split"),
    "eval": (_eval, "false rejects / false accepts per hour / latency on a dataset split"),
    "dataset": (_dataset, "build the synthetic dataset (docs/wakeword-data.md)"),
}


def setup(parser):
    sub = parser.add_subparsers(dest="ww_command", metavar="SUBCOMMAND")
    for name, (_, help_text) in SUBCOMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        if name in ("score", "detect", "eval"):
            p.add_argument("--model", required=True,
                           help="shipped name (alexa, hey_jarvis) or .bin path")
        if name in ("score", "detect"):
            p.add_argument("wav", nargs="+", help="16 kHz mono 16-bit WAV files")
        if name == "detect":
            p.add_argument("--threshold", type=Number(int, low=0),
                           help="override the manifest threshold")
        if name == "eval":
            p.add_argument("--split", default="dev",
                           help="dev, held (speakers training never hears: compare models "
                                "there, not on dev) or train (default: dev)")
            p.add_argument("--speakers", nargs="*",
                           help="only clips of these whole speakers (e.g. flite:awb)")
            p.add_argument("--neg-split", help="count false accepts on this split's negatives")
            p.add_argument("--lowpass", type=Number(float, 500, 7999, of="Hz"), metavar="HZ",
                           help="score every clip with nothing above HZ (e.g. 3800: a voice "
                                "made at 8 kHz; 5300: at 11.025 kHz)")
            p.add_argument("--data", help="dataset root (default data/wakeword/<slug>)")
        if name == "train":
            p.add_argument("phrase", type=nonempty, help='the wake word, e.g. "hey jarvis"')
            p.add_argument("--data", help="dataset root (default data/wakeword/<slug>)")
            p.add_argument("--out", default="firmware/models", metavar="DIR",
                           help="where the model goes (default: firmware/models, the shipped "
                                "models of the checkout you run it in)")
            p.add_argument("--steps", type=COUNT, default=3000,
                           help="training steps (default: 3000, as make train-wakeword)")
            p.add_argument("--exclude-speakers", nargs="*", default=[],
                           help="whole speakers to leave out of training")
            p.add_argument("--seed", type=SEED, default=0, help="random seed (default: 0)")
            p.add_argument("--max-near-miss", type=SHARE, metavar="SHARE",
                           help="the threshold also keeps the held split's near misses that "
                                "fire at or under this share (e.g. 0.10; default: not bounded)")
            p.add_argument("--band-share", type=SHARE, default=0.3, metavar="SHARE",
                           help="share of draws that take a clip's band-limited copy (cut off "
                                "at 3.4-7 kHz), positives and negatives alike (default: 0.3; "
                                "0: never)")
            p.add_argument("--band-per", choices=("draw", "sequence"), default="draw",
                           help="what one band choice covers: each clip and the negative "
                                "context before it alone (draw, the default) or the whole "
                                "training sequence (sequence)")
            p.add_argument("--build-data", action="store_true",
                           help="build (or reuse) the dataset first")
        if name == "dataset":
            p.add_argument("--word", required=True, type=nonempty,
                           help='wake word or phrase, e.g. "alexa", "hey jarvis"')
            p.add_argument("--out", metavar="DIR",
                           help="output folder (default: data/wakeword/<slug>)")
            p.add_argument("--seed", type=SEED, default=0, help="random seed (default: 0)")
            p.add_argument("--scale", type=Number(float, low=0, above=True), default=1.0,
                           help="size factor: 1 = the full dataset of docs/wakeword-data.md; "
                                "0.1 is a quick first version (default: 1)")
            p.add_argument("--dev-scale", type=Number(float, low=0, above=True), metavar="S",
                           help="size factor of the held and dev clips (default: --scale)")
            p.add_argument("--dev-neg-hours", type=HOURS, metavar="H",
                           help="override the hours of dev negatives")
            p.add_argument("--train-neg-hours", type=HOURS, metavar="H",
                           help="override the hours of train negatives")
            p.add_argument("--workers", type=COUNT, default=2,
                           help="processes, niced (default: 2)")
            p.add_argument("--force", action="store_true", help="rebuild even if cached")
            p.add_argument("--negatives-from", metavar="ROOT",
                           help="link the long negatives of another word's dataset (same options)")
            p.add_argument("--no-neural", action="store_true",
                           help="without Piper, Kokoro and WORLD re-voicing (the [voices] extra)")
            add_json_argument(p, "the dataset's root, splits and build time")


def run(args):
    if not getattr(args, "ww_command", None):
        raise UsageError("wakeword needs a subcommand: %s" % ", ".join(SUBCOMMANDS))
    return SUBCOMMANDS[args.ww_command][0](args)
