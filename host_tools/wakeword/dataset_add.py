"""Add one engine's train speakers to a dataset built before the engine was in it, without
rendering the dataset again (a format-7 build took 40 min here; this takes minutes):

    python -m host_tools.wakeword.dataset_add --from data/wakeword/alexa --engine dectalk \\
        --positives 500 --near-misses 60 --neg-hours 0.4 --out data/wakeword/alexa+dectalk

The new root links the old one's train clips, its held and dev splits and its parameters
(nothing there is copied, moved or changed) and renders, with the dataset's own renderer,
positives, near misses and long negatives spoken only by the engine's *train* speakers
(`dataset_tts.speaker_split`: its held and dev speakers stay unheard). Its train manifest is
the old one followed by the new clips, under `train/<engine>/`. Positives are screened by the
recogniser as in a full build.
"""

import argparse
import json
import math
import os
import shutil
import sys
import time

import numpy as np

from ..errors import EarshotError
from . import dataset as D
from . import dataset_text as T
from . import dataset_tts as tts

ADD_SEED = 11  # the seed session 9's DECtalk clips were rendered with (any but the base's)


def _engine_voices(engine):
    if engine == "kokoro":
        tts.kokoro_styles()
        return tts.kokoro_voices()
    names = {"flite": tts.FLITE_VOICES, "pico": tts.PICO_VOICES, "piper": tts.PIPER_VOICES,
             "dectalk": tuple(tts.DECTALK_VOICES)}[engine]
    return [tts.Voice(engine, n, n) for n in names]


def add(src, out, engine, positives, near_misses, neg_hours, seed=ADD_SEED, workers=2,
        screen=True, log=print):
    """Render `engine`'s train speakers into a new dataset root `out` on top of `src`."""
    src, out = os.path.abspath(src), os.path.abspath(out)
    manifest = os.path.join(src, "train", "manifest.jsonl")
    if not os.path.isfile(manifest):
        raise EarshotError("%s has no train split (train/manifest.jsonl); build it with "
                           "`make dataset`" % src)
    tmp = out + ".building"
    if os.path.lexists(out):
        raise EarshotError("%s already exists; give a new --out (nothing is overwritten)" % out)
    if os.path.lexists(tmp):
        raise EarshotError("%s already exists (left by a run that stopped?); remove it or give "
                           "another --out" % tmp)
    if engine == "espeak" or engine not in tts.NATURAL_ENGINES:
        raise EarshotError("unknown engine %r (choose from %s)"
                           % (engine, ", ".join(e for e in tts.NATURAL_ENGINES)))
    try:
        params = json.load(open(os.path.join(src, "params.json")))
        word = params["word"]
    except (ValueError, KeyError, TypeError) as e:
        raise EarshotError("%s/params.json is not a dataset's parameters (%s)" % (src, e)) from None
    built = {}
    if os.path.isfile(os.path.join(src, "dataset.json")):
        try:
            built = json.load(open(os.path.join(src, "dataset.json"))).get("speakers", {})
        except ValueError:
            built = {}
    if (os.path.lexists(os.path.join(src, "train", engine))
            or any(v.startswith(engine + ":") for v in built.get("train", []))):
        raise EarshotError("%s already has %s's train speakers: add to the dataset it was "
                           "built on instead" % (src, engine))
    if seed == params.get("seed"):
        raise EarshotError("seed %d is the one %s was built with: the added clips would repeat "
                           "its draws; give another --seed" % (seed, src))
    voices = [(v.engine, v.name, v.variant) for v in _engine_voices(engine)
              if tts.speaker_split(v) == "train"]
    if not voices:
        raise EarshotError("%s has no train speakers" % engine)
    log("adding %s: %s" % (engine, ", ".join(v[1] for v in voices)))
    base = {"seed": seed, "split_id": 0, "voices": voices, "word": word,
            "split_dir": os.path.join(tmp, "train", engine), "split_name": "train",
            "perturb": False, "screen": screen}
    babble = [dict(base, kind_id=4, index=i) for i in range(6)]
    clips = [dict(base, kind_id=1, index=i, label="pos", condition=None,
                  texts=T.spellings(word)) for i in range(positives)]
    clips += [dict(base, kind_id=2, index=i, label="nearmiss", condition=None,
                   texts=T.near_misses(word)) for i in range(near_misses)]
    longs, left, i = [], neg_hours * 3600.0, 0
    while left > 1.0:
        longs.append(dict(base, kind_id=3, index=i, seconds=min(left, 300.0)))
        left -= 300.0
        i += 1
    try:
        added = _render(src, tmp, engine, voices, seed, manifest, babble, clips, longs, workers,
                        log)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)  # made by this run (a leftover one is refused)
        raise
    os.rename(tmp, out)
    return added


def _render(src, tmp, engine, voices, seed, manifest, babble, clips, longs, workers, log):
    t0 = time.time()
    pool = np.concatenate(D._map(D._babble, babble, workers, "babble", log=log)).astype(np.float32)
    entries = [e for e in D._map(D._clip, clips, workers, "clips", pool, log=log)
               if not e.get("skipped")]
    entries += D._map(D._long, longs, workers, "long", pool, log=log) if longs else []
    train = os.path.join(tmp, "train")
    os.makedirs(os.path.join(train, engine), exist_ok=True)
    for name in os.listdir(os.path.join(src, "train")):
        if name not in ("manifest.jsonl", engine):
            os.symlink(os.path.join(src, "train", name), os.path.join(train, name))
    for name in os.listdir(src):
        if name != "train":
            os.symlink(os.path.join(src, name), os.path.join(tmp, name))
    with open(os.path.join(train, "manifest.jsonl"), "w") as f:
        f.write(open(manifest).read())
        for e in entries:
            e["file"] = "%s/%s" % (engine, e["file"])
            f.write(json.dumps(e, sort_keys=True) + "\n")
    added = {"from": src, "engine": engine, "voices": [v[1] for v in voices], "seed": seed,
             "positives": sum(e["label"] == "pos" for e in entries),
             "near_misses": sum(e["label"] == "nearmiss" for e in entries),
             "neg_hours": round(sum(e["duration_s"] for e in entries if e["label"] == "neg")
                                / 3600, 3),
             "seconds": round(time.time() - t0, 1)}
    with open(os.path.join(train, engine, "added.json"), "w") as f:
        json.dump(added, f, indent=1, sort_keys=True)
    return added


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m host_tools.wakeword.dataset_add",
                                description="add one engine's train speakers to a dataset")
    p.add_argument("--from", dest="src", required=True, help="the dataset root to build on")
    p.add_argument("--engine", required=True, help="e.g. dectalk")
    p.add_argument("--out", required=True, help="the new dataset root (must not exist)")
    p.add_argument("--positives", type=int, default=500)
    p.add_argument("--near-misses", type=int, default=60)
    p.add_argument("--neg-hours", type=float, default=0.4)
    p.add_argument("--seed", type=int, default=ADD_SEED,
                   help="not the base build's (default %d)" % ADD_SEED)
    p.add_argument("--workers", type=int, default=2)
    a = p.parse_args(argv)
    if (min(a.positives, a.near_misses, a.neg_hours) < 0 or a.positives < 1 or a.workers < 1
            or not math.isfinite(a.neg_hours) or a.neg_hours > 100):
        p.error("--positives and --workers are at least 1, --near-misses at least 0, "
                "--neg-hours from 0 to 100")
    try:
        added = add(a.src, a.out, a.engine, a.positives, a.near_misses, a.neg_hours, a.seed,
                    a.workers, log=lambda m: print(m, file=sys.stderr))
    except (EarshotError, OSError) as e:
        print("dataset_add: %s" % e, file=sys.stderr)
        return 1
    print(json.dumps(added, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
