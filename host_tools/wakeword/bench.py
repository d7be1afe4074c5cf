"""Wake-word benchmark: Earshot and the anchors side by side on the same dev audio.

    python -m host_tools.wakeword.bench [--words alexa hey_jarvis] [--engines ...]

For each engine and word: the threshold is swept over the engine's own scores; at the best
threshold that keeps false accepts per hour (FA/h, counted on the long negatives with the
engine's refractory period) at or below 0.5 and 0.2, it reports the false-reject rate (FRR)
overall and per condition, the near-miss trigger rate, and the latency from the end of the
word to the detection (median, 95th percentile). Writes bench/results/wakeword.{md,json}.

Score i of a stream covers the audio up to (i+1)*hop_s; an engine fires when a score reaches
the threshold, then ignores `refractory` hops (like the board: `model.detections`).
"""

import argparse
import gzip
import hashlib
import json
import os
import sys
import time

import numpy as np

from ..errors import EarshotError, NotSupportedError
from . import anchors
from . import dataset as D
from .score import EASY, is_easy, speaker_label

TARGETS = (0.5, 0.2)          # FA/h budgets
WINDOW_AFTER_S = 1.0          # a detection counts up to this long after the word's end
MAX_THRESHOLDS = 400
SWEEP_STOP_FAH = 20.0         # below this many FA/h nobody reports FRR; stop sweeping lower
CACHE = os.path.join(".cache", "bench")
OUT = os.path.join("bench", "results")


# --- the math (pure functions, tested on synthetic streams) --------------------------------

def events(scores, threshold, refractory):
    """Indices where an engine fires: score >= threshold, then quiet for `refractory` hops."""
    out, quiet_until = [], -1
    for i in np.flatnonzero(np.asarray(scores) >= threshold):
        if i > quiet_until:
            out.append(int(i))
            quiet_until = i + refractory
    return out


class Streams:
    """Score streams of one engine on one dev split, reduced to what the sweep needs."""

    def __init__(self, hop_s, refractory_s, pos, nearmiss, neg):
        self.hop = hop_s
        self.refr = int(round(refractory_s / hop_s))
        # pos: list of (scores, word_start_s, word_end_s, condition[, voice])
        self.pos_cond = [p[3] for p in pos]
        self.pos_speaker = [speaker_label(p[4]) if len(p) > 4 else "-" for p in pos]
        self.pos_end = np.array([p[2] for p in pos])
        self.pos_win = []
        for s, start, end, *_ in pos:
            lo = max(0, int(np.floor(start / hop_s)) - 1)
            hi = min(len(s), int(np.ceil((end + WINDOW_AFTER_S) / hop_s)))
            self.pos_win.append((lo, np.asarray(s[lo:hi], dtype=np.float64)))
        self.pos_max = np.array([w.max() if len(w) else -np.inf for _, w in self.pos_win])
        # nearmiss: list of (scores, condition)
        self.nm_max = np.array([np.max(s) if len(s) else -np.inf for s, _ in nearmiss])
        self.nm_cond = [c for _, c in nearmiss]
        self.neg = [np.asarray(s, dtype=np.float64) for s in neg]
        self.neg_hours = sum(len(s) for s in neg) * hop_s / 3600.0

    def false_accepts(self, threshold):
        return sum(len(events(s, threshold, self.refr)) for s in self.neg)

    def at(self, threshold):
        """Every metric at one threshold."""
        fired = self.pos_max >= threshold
        lat = []
        for (lo, w), end, f in zip(self.pos_win, self.pos_end, fired):
            if f:
                i = lo + int(np.argmax(w >= threshold))
                lat.append((i + 1) * self.hop - end)
        fa = self.false_accepts(threshold)
        per = {}
        for c in sorted(set(self.pos_cond)):
            m = np.array([pc == c for pc in self.pos_cond])
            per[c] = round(float(1.0 - fired[m].mean()), 4)
        easy = np.array([is_easy(pc) for pc in self.pos_cond], bool)
        if easy.any():  # the "<= 2% on the clean and 20 dB part"
            per[EASY] = round(float(1.0 - fired[easy].mean()), 4)
        by_speaker = {}
        for spk in sorted(set(self.pos_speaker)):
            m = np.array([p == spk for p in self.pos_speaker])
            me = m & easy
            by_speaker[spk] = {"clips": int(m.sum()),
                               "frr": round(float(1.0 - fired[m].mean()), 4),
                               "frr_easy": round(float(1.0 - fired[me].mean()), 4) if me.any() else None}
        nm_fired = self.nm_max >= threshold
        nm_per = {}
        for c in sorted(set(self.nm_cond)):
            m = np.array([nc == c for nc in self.nm_cond])
            nm_per[c] = round(float(nm_fired[m].mean()), 4)
        return {
            "threshold": float(threshold),
            "false_accepts": fa,
            "fa_per_hour": round(fa / self.neg_hours, 3) if self.neg_hours else None,
            "frr": round(float(1.0 - fired.mean()), 4) if len(fired) else None,
            "frr_by_condition": per,
            "frr_by_speaker": by_speaker,
            "nearmiss_rate": round(float(nm_fired.mean()), 4) if len(self.nm_max) else None,
            "nearmiss_by_condition": nm_per,
            "latency_median_s": round(float(np.median(lat)), 3) if lat else None,
            "latency_p95_s": round(float(np.percentile(lat, 95)), 3) if lat else None,
        }


def candidate_thresholds(st, limit=MAX_THRESHOLDS):
    """Thresholds worth trying: the values where FRR or FA can change, thinned to `limit`."""
    vals = [st.pos_max[np.isfinite(st.pos_max)]]
    for s in st.neg:
        if len(s) > 2000:
            vals.append(np.partition(s, len(s) - 2000)[-2000:])
        else:
            vals.append(s)
    v = np.unique(np.concatenate(vals)) if vals else np.array([])
    if len(v) > limit:
        v = v[np.unique(np.linspace(0, len(v) - 1, limit).round().astype(int))]
    return v


def sweep(st, targets=TARGETS):
    """Per FA/h budget: the threshold with the lowest FRR among those within budget."""
    points = []
    for t in sorted(candidate_thresholds(st), reverse=True):
        fa = st.false_accepts(t)
        points.append((t, fa))
        if st.neg_hours and fa / st.neg_hours > SWEEP_STOP_FAH:
            break
    out = {}
    for target in targets:
        ok = [t for t, fa in points if st.neg_hours and fa / st.neg_hours <= target]
        if not ok:
            out[str(target)] = {"reachable": False,
                                "min_fa_per_hour": round(min(fa for _, fa in points) / st.neg_hours, 3)
                                if points and st.neg_hours else None}
            continue
        # FRR only falls as the threshold falls, so the lowest admissible threshold is best
        # unless the refractory makes FA non-monotonic; check all admissible ones cheaply.
        best = min(ok, key=lambda t: (float((st.pos_max < t).mean()), -t))
        out[str(target)] = dict(st.at(best), reachable=True)
    return out


# --- running engines ---------------------------------------------------------------------

def dev_files(word, data_root=None, neg_hours=None, per_condition=None, split="dev"):
    split = os.path.join(data_root or os.path.join("data", "wakeword", word), split)
    entries = D.load_manifest(split)
    if per_condition:
        seen, keep = {}, []
        for e in entries:
            if e["label"] == "neg":
                keep.append(e)
                continue
            k = (e["label"], e["condition"])
            seen[k] = seen.get(k, 0) + 1
            if seen[k] <= per_condition:
                keep.append(e)
        entries = keep
    if neg_hours is not None:
        keep, total = [], 0.0
        for e in entries:
            if e["label"] == "neg":
                if total >= neg_hours * 3600:
                    continue
                total += e["duration_s"]
            keep.append(e)
        entries = keep
    return entries


_DIGESTS = {}  # (path, size, mtime) -> sha1 of the file, for this process


def _file_digest(path):
    st = os.stat(path)
    k = (path, st.st_size, st.st_mtime_ns)
    if k not in _DIGESTS:
        with open(path, "rb") as f:
            _DIGESTS[k] = hashlib.sha1(f.read()).hexdigest()
    return _DIGESTS[k]


def _cache_key(engine, word, entries):
    """Engine, model, version and the bytes of every file: a rebuilt dataset with the same
    content (the builder is deterministic) keeps the anchors' scores; any changed file drops them."""
    h = hashlib.sha1()
    h.update(json.dumps([engine.name, engine.model(word), engine.version]).encode())
    for e in entries:
        h.update(("%s %s\n" % (e["path"], _file_digest(e["path"]))).encode())
    return h.hexdigest()[:16]


def run_engine(engine, word, entries, use_cache=True, log=print):
    """Score streams (dicts) for every entry, from the cache when the inputs are unchanged."""
    paths = [e["path"] for e in entries]
    cacheable = not engine.name.startswith("earshot")  # its models change while being trained
    path = None
    if cacheable:
        key = _cache_key(engine, word, entries)
        path = os.path.join(CACHE, word, "%s-%s.jsonl.gz" % (engine.name, key))
        if use_cache and os.path.exists(path):
            with gzip.open(path, "rt") as f:
                recs = [json.loads(l) for l in f]
            return recs, 0.0, True
    t0 = time.time()
    recs = list(engine.score(word, paths, log=log))
    dt = time.time() - t0
    if cacheable:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with gzip.open(path + ".tmp", "wt") as f:
            for r in recs:
                f.write(json.dumps(r) + "\n")
        os.replace(path + ".tmp", path)
    return recs, dt, False


def build_streams(entries, recs, refractory_s):
    hop = recs[0]["hop_s"] if recs else 0.02
    pos, nm, neg = [], [], []
    for e, r in zip(entries, recs):
        s = np.asarray(r["scores"], dtype=np.float64)
        if e["label"] == "pos":
            pos.append((s, e.get("word_start_s", 0.0), e["word_end_s"], e["condition"],
                        e.get("voice", "-")))
        elif e["label"] == "nearmiss":
            nm.append((s, e["condition"]))
        else:
            neg.append(s)
    return Streams(hop, refractory_s, pos, nm, neg)


def bench_engine(engine, word, entries, use_cache=True, log=print):
    res = {"engine": engine.name, "label": engine.label, "word": word, "note": engine.note}
    try:
        model = engine.model(word)
        res["model"] = model
        if isinstance(engine, anchors.Earshot):
            default, refr = engine.manifest(word)
        else:
            default, refr = engine.default_threshold.get(word), engine.refractory_s
        recs, dt, cached = run_engine(engine, word, entries, use_cache, log)
    except NotSupportedError as e:
        res.update(status="not run", reason=str(e))
        log("  %s: NOT RUN: %s" % (engine.name, e))
        return res
    audio_h = sum(e["duration_s"] for e in entries) / 3600.0
    st = build_streams(entries, recs, refr)
    res.update(status="ok", hop_s=st.hop, refractory_s=refr, neg_hours=round(st.neg_hours, 3),
               positives=len(st.pos_max), nearmisses=len(st.nm_max), cached=cached,
               score_seconds_per_audio_hour=round(dt / audio_h, 1) if dt and audio_h else None,
               at_budget=sweep(st))
    if default is not None:
        res["at_default"] = st.at(default)
    return res


# --- report ------------------------------------------------------------------------------

def _pct(v):
    return "-" if v is None else "%.1f%%" % (100.0 * v)


def _cell(r, target, key):
    p = r.get("at_budget", {}).get(str(target))
    if p is None:
        return "-"
    if not p.get("reachable"):
        return "n/a (>= %s FA/h)" % p.get("min_fa_per_hour") if key == "frr" else "-"
    v = p.get(key)
    if key.startswith("latency"):
        return "-" if v is None else "%d ms" % round(1000 * v)
    return _pct(v)


def markdown(results, meta):
    lines = ["# Wake-word benchmark", "",
             "A held-out split of the synthetic dataset (speakers Earshot never trains on). %s" % meta, ""]
    by_word = {}
    for r in results:
        by_word.setdefault(r["word"], []).append(r)
    for word, rs in by_word.items():
        ok = [r for r in rs if r["status"] == "ok"]
        lines += ["## %s" % word, ""]
        if ok:
            r0 = ok[0]
            lines.append("%d positives, %d near misses, %.2f h of negatives." % (
                r0["positives"], r0["nearmisses"], r0["neg_hours"]))
            lines.append("")
        lines += ["| engine | FRR @<=0.5 FA/h | FRR @<=0.2 FA/h | near-miss @0.5 | "
                  "latency med / p95 @0.5 | at shipped threshold: FRR, FA/h | score s per audio h |",
                  "|---|---|---|---|---|---|---|"]
        for r in rs:
            if r["status"] != "ok":
                lines.append("| %s | not run: %s | | | | | |" % (r["label"], r["reason"]))
                continue
            d = r.get("at_default")
            dtxt = "%s, %s" % (_pct(d["frr"]), d["fa_per_hour"]) if d else "-"
            lines.append("| %s | %s | %s | %s | %s / %s | %s | %s |" % (
                r["label"], _cell(r, 0.5, "frr"), _cell(r, 0.2, "frr"),
                _cell(r, 0.5, "nearmiss_rate"), _cell(r, 0.5, "latency_median_s"),
                _cell(r, 0.5, "latency_p95_s"), dtxt,
                "cached" if r.get("cached") else r.get("score_seconds_per_audio_hour")))
        for key, title in (("frr_by_condition", "False rejects"),
                           ("nearmiss_by_condition", "Near-miss triggers")):
            conds = sorted({c for r in ok for t in r["at_budget"].values() if t.get("reachable")
                            for c in t.get(key, {})})
            if not conds:
                continue
            lines += ["", "%s per condition at <= 0.5 FA/h:" % title, "",
                      "| condition | " + " | ".join(r["label"] for r in ok) + " |",
                      "|---|" + "---|" * len(ok)]
            for c in conds:
                row = []
                for r in ok:
                    p = r["at_budget"]["0.5"]
                    row.append(_pct(p[key].get(c)) if p.get("reachable") else "n/a")
                lines.append("| %s | %s |" % (c, " | ".join(row)))
        spk = sorted({k for r in ok for t in r["at_budget"].values() if t.get("reachable")
                      for k in t.get("frr_by_speaker", {})})
        if spk:
            lines += ["", "False rejects per held-out speaker at <= 0.5 FA/h "
                      "(clean + 20 dB / all conditions; no speaker here is in Earshot's training):",
                      "", "| speaker | clips | " + " | ".join(r["label"] for r in ok) + " |",
                      "|---|---|" + "---|" * len(ok)]
            for k in spk:
                row, clips = [], "-"
                for r in ok:
                    p = r["at_budget"]["0.5"]
                    v = p.get("frr_by_speaker", {}).get(k) if p.get("reachable") else None
                    if v:
                        clips = v["clips"]
                        row.append("%s / %s" % (_pct(v["frr_easy"]), _pct(v["frr"])))
                    else:
                        row.append("n/a")
                lines.append("| %s | %s | %s |" % (k, clips, " | ".join(row)))
        lines += seed_spread(rs)
        lines.append("")
    lines += ["Engines:", ""]
    seen = set()
    for r in results:
        if r["engine"] not in seen and r.get("note"):
            seen.add(r["engine"])
            lines.append("- %s: %s" % (r["label"], r["note"]))
    return "\n".join(lines) + "\n"


def _spread(vals):
    """'mean +- sd (min-max)' of FRRs over seeds, in percent; '-' where a seed had no clips
    to count (a speaker with no clean or 20 dB clip)."""
    v = 100.0 * np.asarray(vals, dtype=np.float64)
    if np.isnan(v).any():
        return "-"
    return "%.1f +- %.1f%% (%.1f-%.1f)" % (v.mean(), v.std(ddof=1) if len(v) > 1 else 0.0,
                                          v.min(), v.max())


def seed_spread(rs):
    """Markdown lines: the spread over the Earshot seed candidates (engine 'earshot-seed'),
    overall and per held-out speaker, at each model's own <= 0.5 FA/h threshold."""
    seeds = [r for r in rs if r["engine"] == "earshot-seed" and r["status"] == "ok"
             and r["at_budget"]["0.5"].get("reachable")]
    if len(seeds) < 2:
        return []
    pts = [r["at_budget"]["0.5"] for r in seeds]
    out = ["", "Spread over %d Earshot seeds (same recipe and data; mean +- sd (min-max) at "
           "each model's own <= 0.5 FA/h threshold):" % len(seeds), "",
           "| | clean + 20 dB | all conditions |", "|---|---|---|",
           "| all positives | %s | %s |" % (_spread([p["frr_by_condition"].get(EASY, np.nan)
                                                   for p in pts]),
                                            _spread([p["frr"] for p in pts])),
           "| near-miss triggers | | %s |" % _spread([p["nearmiss_rate"] for p in pts])]
    for k in sorted({k for p in pts for k in p.get("frr_by_speaker", {})}):
        vs = [p["frr_by_speaker"].get(k) for p in pts]
        if all(vs):
            out.append("| %s | %s | %s |" % (k, _spread([v["frr_easy"] if v["frr_easy"] is not None
                                                           else np.nan for v in vs]),
                                             _spread([v["frr"] for v in vs])))
    return out


def seed_engines(models):
    """One Earshot engine per seed candidate (a model name or .bin path), for every word."""
    out = []
    for i, m in enumerate(models):
        out.append(anchors.Earshot(name="earshot-seed", label="Earshot seed candidate %d (%s)"
                                   % (i + 1, os.path.basename(str(m))),
                                   venv="", models=_AnyWord(m), default_threshold={}))
    return out


class _AnyWord(dict):
    """models for an engine that scores every word with one model file."""

    def __init__(self, model):
        super().__init__()
        self.model = str(model)

    def __contains__(self, word):
        return True

    def __getitem__(self, word):
        return self.model

    def __hash__(self):
        return hash(self.model)


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m host_tools.wakeword.bench",
                                description="Earshot vs the anchors on the dev split.")
    p.add_argument("--words", nargs="+", default=["alexa", "hey_jarvis"],
                   help="dataset slugs (data/wakeword/<slug>)")
    p.add_argument("--engines", nargs="+", default=list(anchors.ENGINES))
    p.add_argument("--data", help="dataset root for a single word (default data/wakeword/<slug>)")
    p.add_argument("--neg-hours", type=float, help="use only this many hours of negatives")
    p.add_argument("--per-condition", type=int, help="at most this many clips per condition")
    p.add_argument("--no-cache", action="store_true", help="re-score the anchors")
    p.add_argument("--split", default="dev",
                   help="which held-out split: dev (default; measured once per shipped model) "
                        "or held (where candidates are compared)")
    p.add_argument("--seed-models", nargs="*", default=[], metavar="MODEL",
                   help="Earshot candidates of one recipe trained with different seeds (names "
                        "or .bin paths): each is scored and the spread over them reported")
    p.add_argument("--out", default=OUT)
    args = p.parse_args(argv)

    def log(m):
        print(m, file=sys.stderr, flush=True)

    results = []
    try:
        engines = [anchors.get(n) for n in args.engines] + seed_engines(args.seed_models)
        for word in args.words:
            entries = dev_files(word, args.data, args.neg_hours, args.per_condition, args.split)
            log("%s: %d files, %.2f h of audio" % (word, len(entries),
                                                   sum(e["duration_s"] for e in entries) / 3600))
            for eng in engines:
                log("  scoring with %s" % eng.name)
                results.append(bench_engine(eng, word, entries, not args.no_cache, log))
    except EarshotError as e:
        print("bench: %s" % e, file=sys.stderr)
        return 1
    meta = ("Split: %s. Thresholds swept per engine; FA counted with each engine's refractory "
            "period." % args.split)
    md = markdown(results, meta)
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "wakeword.json"), "w") as f:
        json.dump({"results": results, "targets_fa_per_hour": TARGETS,
                   "window_after_word_s": WINDOW_AFTER_S}, f, indent=1)
    with open(os.path.join(args.out, "wakeword.md"), "w") as f:
        f.write(md)
    print(md)
    return 0


if __name__ == "__main__":
    sys.exit(main())
