"""Score audio with a shipped model on the host, bit for bit what the board computes.

`score_file` gives the board's smoothed score per 20 ms hop; the board fires exactly when a score
reaches the manifest threshold and then stays quiet for `refractory` hops (`model.detections`).
`evaluate` measures a dataset split: false rejects at a false-accept budget, near-miss triggers,
per condition, and the latency from the end of the word to the detection.
"""

import time
from pathlib import Path

import numpy as np

from ..errors import EarshotError
from ..resources import models_dir
from . import features as feat
from . import model as M


def resolve(name_or_path):
    """'alexa', 'hey jarvis', 'hey_jarvis' or a path to .bin/.json -> (bin, json) paths."""
    p = Path(name_or_path)
    if p.suffix in (".bin", ".json") and p.exists():
        return p.with_suffix(".bin"), p.with_suffix(".json")
    slug = "_".join(str(name_or_path).lower().split()).replace("-", "_")
    models = models_dir()
    b, j = models / (slug + ".bin"), models / (slug + ".json")
    if not (b.exists() and j.exists()):
        have = sorted(x.stem for x in models.glob("*.json"))
        raise EarshotError("no model %r (shipped: %s); pass a path to a .bin or train one with "
                           "`earshot wakeword train`" % (name_or_path, ", ".join(have) or "none"))
    return b, j


def load(name_or_path):
    b, j = resolve(name_or_path)
    try:
        return M.load(b, j)
    except (ValueError, KeyError) as e:
        raise EarshotError("%s: %s" % (b, e)) from None


def read_pcm(path):
    import wave
    try:
        with wave.open(str(path)) as w:
            if w.getframerate() != feat.SAMPLE_RATE or w.getnchannels() != 1 or w.getsampwidth() != 2:
                raise EarshotError("%s: need 16 kHz mono 16-bit WAV (convert with "
                                   "`sox IN -r 16000 -c 1 -b 16 OUT.wav`)" % path)
            return np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")
    except (OSError, EOFError, wave.Error) as e:
        raise EarshotError("%s: %s" % (path, e)) from None


def score_file(qmodel, manifest, path):
    return M.score_pcm(qmodel, manifest, read_pcm(path))


def _frr_at(pos_max, thr):
    return float(np.mean(pos_max < thr)) if len(pos_max) else float("nan")


def evaluate(qmodel, manifest, split_dir, budgets=(0.5, 0.2), log=print, held_back=False):
    """False-reject rates at <= budget false accepts per hour on a split's negatives.
    held_back: only the part of a train split that training holds back (to compare models
    without reading dev)."""
    from .train import split_features, held_back as held_back_of
    t0 = time.time()
    entries, feats = split_features(split_dir, log=log)
    if held_back:
        voices, negs = held_back_of(entries)
        keep = [i for i, e in enumerate(entries) if i in negs or e["voice"] in voices]
        entries, feats = [entries[i] for i in keep], [feats[i] for i in keep]
    hop = manifest["hop_s"]
    pos, nm, neg = [], [], []
    for e, f in zip(entries, feats):
        s = M.scores(qmodel, manifest, f)
        (pos if e["label"] == "pos" else nm if e["label"] == "nearmiss" else neg).append((e, s))
    hours = sum(len(s) for _, s in neg) * hop / 3600
    smax = manifest["score_max"]
    # false accepts per threshold (with the refractory period), coarse to fine
    fa = {}
    for thr in range(smax, 0, -2):
        man = dict(manifest, threshold=thr)
        fa[thr] = sum(len(M.detections(s, man)) for _, s in neg)
        if fa[thr] / hours > max(budgets) * 4:
            break
    pos_max = np.array([s.max() for _, s in pos])
    out = {"split": str(split_dir) + (" (held back)" if held_back else ""),
           "neg_hours": round(hours, 2), "positives": len(pos),
           "near_misses": len(nm), "shipped_threshold": manifest["threshold"], "at": {}}

    def report(thr):
        man = dict(manifest, threshold=thr)
        conds = {}
        lat = []
        for e, s in pos:
            c = conds.setdefault(e["condition"], [0, 0])
            c[1] += 1
            d = M.detections(s, man)
            if not d:
                c[0] += 1
            else:
                lat.append((d[0] + 1) * hop - e["word_end_s"])
        nm_rate = float(np.mean([len(M.detections(s, man)) > 0 for _, s in nm])) if nm else None
        return {"threshold": thr, "fa_per_hour": round(fa.get(thr, 0) / hours, 3),
                "false_reject": round(_frr_at(pos_max, thr), 4),
                "near_miss_trigger": None if nm_rate is None else round(nm_rate, 4),
                "latency_s": {"median": round(float(np.median(lat)), 3) if lat else None,
                              "p95": round(float(np.percentile(lat, 95)), 3) if lat else None},
                "per_condition": {k: round(v[0] / v[1], 4) for k, v in sorted(conds.items())}}

    for b in budgets:
        ok = [t for t, n in fa.items() if n / hours <= b]
        out["at"]["%.2f" % b] = report(min(ok)) if ok else None
    out["at"]["shipped"] = report(manifest["threshold"]) if manifest["threshold"] in fa else None
    if out["at"]["shipped"] is None:
        man = dict(manifest)
        fa[manifest["threshold"]] = sum(len(M.detections(s, man)) for _, s in neg)
        out["at"]["shipped"] = report(manifest["threshold"])
    out["seconds"] = round(time.time() - t0, 1)
    return out
