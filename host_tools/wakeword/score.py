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


EASY = "clean + 20 dB"  # the pooled row: clean and 20 dB SNR


def is_easy(condition):
    """Clean (with or without the noise floor) or noise at 20 dB SNR, nothing else applied."""
    return all(p in ("clean", "line") or p.endswith("_20db") for p in condition.split("+"))


def speaker_label(voice_id):
    """Per-speaker rows: each natural/neural voice on its own, the espeak voices pooled."""
    return "espeak (pooled)" if voice_id.startswith("espeak:") else voice_id


def evaluate(qmodel, manifest, split_dir, budgets=(0.5, 0.2), log=print, speakers=None,
             neg_split=None, lowpass=None):
    """False-reject rates at <= budget false accepts per hour on a split's negatives, overall,
    per condition and per speaker. `speakers`: only positives/near misses involving these whole
    speakers (train.speaker_of); `neg_split`: count false accepts on that split's negatives
    instead (a leave-speakers-out run scores train clips against the held split's hours);
    `lowpass`: every clip (negatives too) with nothing above this many Hz, as a voice made at
    8 or 11.025 kHz or a phone line sounds (train.band_limited)."""
    from .train import speaker_of, split_features
    t0 = time.time()
    band = float(lowpass) if lowpass else False
    entries, feats = split_features(split_dir, log=log, band=band)
    items = list(zip(entries, feats))
    if speakers:
        sp = set(speakers)
        items = [(e, f) for e, f in items if e["label"] == "neg" or speaker_of(e["voice"]) & sp]
    if neg_split:
        ne, nf = split_features(neg_split, log=log, band=band)
        items = [(e, f) for e, f in items if e["label"] != "neg"]
        items += [(e, f) for e, f in zip(ne, nf) if e["label"] == "neg"]
    hop = manifest["hop_s"]
    pos, nm, neg = [], [], []
    for e, f in items:
        s = M.scores(qmodel, manifest, f)
        (pos if e["label"] == "pos" else nm if e["label"] == "nearmiss" else neg).append((e, s))
    if not pos or not neg:
        raise EarshotError("%s: no positives or no negatives to evaluate" % split_dir)
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
    out = {"split": str(split_dir), "neg_split": str(neg_split or split_dir),
           "speakers": sorted(speakers) if speakers else "all", "lowpass_hz": lowpass,
           "neg_hours": round(hours, 2), "positives": len(pos),
           "near_misses": len(nm), "shipped_threshold": manifest["threshold"], "at": {}}

    def report(thr):
        man = dict(manifest, threshold=thr)
        conds, spk = {}, {}
        lat = []
        for e, s in pos:
            c = conds.setdefault(e["condition"], [0, 0])
            k = spk.setdefault(speaker_label(e["voice"]), [0, 0, 0, 0])
            d = M.detections(s, man)
            c[1] += 1
            k[1] += 1
            easy = is_easy(e["condition"])
            k[3] += easy
            if not d:
                c[0] += 1
                k[0] += 1
                k[2] += easy
            else:
                lat.append((d[0] + 1) * hop - e["word_end_s"])
        nm_rate = float(np.mean([len(M.detections(s, man)) > 0 for _, s in nm])) if nm else None
        easy_n = sum(is_easy(e["condition"]) for e, _ in pos)
        easy_miss = sum(is_easy(e["condition"]) and not M.detections(s, man) for e, s in pos)
        return {"threshold": thr, "fa_per_hour": round(fa.get(thr, 0) / hours, 3),
                "false_reject": round(_frr_at(pos_max, thr), 4),
                "false_reject_easy": round(easy_miss / easy_n, 4) if easy_n else None,
                "near_miss_trigger": None if nm_rate is None else round(nm_rate, 4),
                "latency_s": {"median": round(float(np.median(lat)), 3) if lat else None,
                              "p95": round(float(np.percentile(lat, 95)), 3) if lat else None},
                "per_condition": {k: round(v[0] / v[1], 4) for k, v in sorted(conds.items())},
                "per_speaker": {k: {"clips": v[1], "false_reject": round(v[0] / v[1], 4),
                                    "easy_clips": v[3],
                                    "false_reject_easy": round(v[2] / v[3], 4) if v[3] else None}
                                for k, v in sorted(spk.items())}}

    for b in budgets:
        ok = [t for t, n in fa.items() if n / hours <= b]
        out["at"]["%.2f" % b] = report(min(ok)) if ok else None
    if manifest["threshold"] not in fa:
        fa[manifest["threshold"]] = sum(len(M.detections(s, dict(manifest))) for _, s in neg)
    out["at"]["shipped"] = report(manifest["threshold"])
    out["seconds"] = round(time.time() - t0, 1)
    return out


def speaker_table(res, budget="0.50"):
    """Markdown rows: speaker | clips | FRR clean+20 dB | FRR all conditions, at one budget."""
    at = res["at"].get(budget)
    if at is None:
        return "no threshold reaches %s FA/h" % budget
    lines = ["| speaker | clips | FRR clean + 20 dB | FRR all conditions |", "|---|---|---|---|"]
    for k, v in at["per_speaker"].items():
        easy = "-" if v["false_reject_easy"] is None else "%.1f %% (%d)" % (
            100 * v["false_reject_easy"], v["easy_clips"])
        lines.append("| %s | %d | %s | %.1f %% |" % (k, v["clips"], easy, 100 * v["false_reject"]))
    return "\n".join(lines)


# ---------------------------------------------------------------- cost

def macs_per_second(manifest):
    """Multiplies per second of audio on the board: frontend + model (see docs/wakeword.md)."""
    f = manifest["features"]
    nfft, hop = f["nfft"], f["hop"]
    stages = nfft.bit_length() - 1
    bins = nfft // 2 + 1
    front = f["win"] + stages * (nfft // 2) * 4 + 2 * bins + 2 * bins
    c, nb = manifest["channels"], f["bands"]
    blocks = len(manifest["dilations"])
    model = 3 * nb * c + blocks * (3 * c + c * c) + c
    hops = f["sample_rate"] / hop
    return {"frontend": int(front * hops), "model": int(model * hops),
            "total": int((front + model) * hops)}


_TIMING = """
import time
from earshot.wakeword import Detector
det = Detector(%r, %r)
buf = bytearray(640)
for i in range(640):
    buf[i] = (i * 73 + (i >> 3) * 11) & 255
for _ in range(10):
    det.feed(buf)
n = %d
t0 = time.ticks_us()
for _ in range(n):
    det.feed(buf)
print(time.ticks_diff(time.ticks_us(), t0) / (n * 0.02))
"""

def firmware_timing(name_or_path, seconds=20, repeats=3):
    """MicroPython Unix-port microseconds per second of audio (best of `repeats`) for Detector.feed."""
    from ..sim.unix_port import run_mpy
    b, j = resolve(name_or_path)
    runs = [float(run_mpy(_TIMING % (str(b), str(j), int(seconds * 50)), timeout=600).strip())
            for _ in range(repeats)]
    return min(runs)


def detector_heap(name_or_path):
    """Bytes the Detector allocates (model file + buffers), measured in the Unix port."""
    from ..sim.unix_port import run_mpy
    b, j = resolve(name_or_path)
    code = ("import gc\nfrom earshot.wakeword import Detector\ngc.collect()\n"
            "a = gc.mem_alloc()\nd = Detector(%r, %r)\nbuf = bytearray(640)\n"
            "for _ in range(50):\n    d.feed(buf)\ngc.collect()\nprint(gc.mem_alloc() - a)\n"
            % (str(b), str(j)))
    return int(run_mpy(code, heap="256K").strip())
