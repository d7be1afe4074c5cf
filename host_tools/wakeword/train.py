"""Train a wake-word model on the dataset's train split and export the quantised board model.

    python -m host_tools.wakeword.train --word alexa      (or `earshot wakeword train "alexa"`)

Features come from the integer frontend (`features.py`), the exact input the board sees. The
float model (torch, the optional `[train]` extra) is trained with quantisation simulated in the
forward pass (int8 per-channel weights, activations on the 0..127 grid, straight-through
gradients), then converted to the integer model of `model.py` and checked on the integer
reference, which also picks the threshold. Only the train split is used: a slice of its voices
and long negatives is held back to pick the threshold; dev is never read here.
"""

import argparse
import hashlib
import json
import pickle
import sys
import time
import wave
from pathlib import Path

import numpy as np

from ..errors import EarshotError
from . import augment as A
from . import features as feat
from . import model as M

HOP_S = feat.HOP / feat.SAMPLE_RATE
ACT_MAX = 4.0                # float value of activation 127
ACT_SCALE = ACT_MAX / 127.0  # features use the same scale: x = f * ACT_SCALE
CHANNELS = 64
DILATIONS = (2, 4, 8, 16)
CROP = 160                   # frames per training sequence (3.2 s)
POS_BEFORE = 0.04            # label 1 from word_end - POS_BEFORE ...
POS_AFTER = 0.30             # ... to word_end + POS_AFTER (seconds)
SMOOTH = 5                   # score = sum of the last 5 logits (100 ms), see model.py
REFRACTORY_S = 1.5
TARGET_FA_PER_HOUR = 0.3     # threshold chosen on held-back train negatives
HARD_SHARE = 0.3             # negative crops drawn around mined hard negatives ...
HARD_COUNT = 2000            # ... the highest-scoring peaks of the last mining pass
MINE_AT = (0.3, 0.45, 0.6, 0.75, 0.9)  # fractions of the steps after which to mine
BAND_HZ = (3400.0, 7000.0)   # cutoffs of the band-limited copies (--band-share): a voice made
                             # at 8 or 11.025 kHz, a phone line, a dull microphone
BAND_FLOOR_DBFS = -70.0      # white noise under a copy, as the renderer's microphone floor
BAND_SHARE = 0.3             # of draws that take the band-limited copy (session 9)
DISTILL_SHARE = 0.5          # of a frame's target from the teachers' ensemble (--teacher)
BAND_PER = ("draw", "sequence")  # what one band choice covers (--band-per): each clip and
                             # context crop alone (session 9/10's models), or a whole sequence


def read_wav(path):
    with wave.open(str(path)) as w:
        if w.getframerate() != feat.SAMPLE_RATE or w.getnchannels() != 1 or w.getsampwidth() != 2:
            raise EarshotError("%s: need 16 kHz mono int16 WAV" % path)
        return np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")


def load_manifest(split_dir):
    path = Path(split_dir) / "manifest.jsonl"
    if not path.exists():
        raise EarshotError("no dataset in %s; build it with `make dataset WORD=...` or add "
                           "--build-data to `earshot wakeword train`" % split_dir)
    out = []
    for line in path.read_text().splitlines():
        e = json.loads(line)
        e["path"] = str(Path(split_dir) / e["file"])
        out.append(e)
    return out


def band_limited(pcm, key, cutoff=None):
    """A copy of int16 `pcm` with everything above `cutoff` Hz (default: drawn from BAND_HZ)
    removed and a -70 dBFS floor under it; the cutoff and noise are a pure function of `key`
    (the clip's path in its split), so the copies, and the cache of their features, are the
    same on every run."""
    rng = np.random.default_rng(int(hashlib.sha1(key.encode()).hexdigest()[:12], 16))
    drawn = rng.uniform(*BAND_HZ)
    cutoff = drawn if cutoff is None else cutoff  # drawn either way: the noise after it stays
    return A.to_int16(A.band_limit(pcm.astype(np.float32) / 32768.0, cutoff, rng,
                                   BAND_FLOOR_DBFS))


def split_features(split_dir, cache_dir=".cache/ww/feat", log=print, band=False):
    """Features of every clip of a split, cached by manifest content: (entries, [arrays]).
    With `band`, of each clip's band-limited copy instead (`band_limited`): True draws each
    clip's cutoff from BAND_HZ, a number is the cutoff in Hz for every clip."""
    entries = load_manifest(split_dir)
    cut = None if band is True else band
    key = hashlib.sha1((Path(split_dir) / "manifest.jsonl").read_bytes()
                       + (b"band %r %r %r" % (BAND_HZ, BAND_FLOOR_DBFS, cut) if band else b"")
                       ).hexdigest()[:12]
    cache = Path(cache_dir) / ("%s.npz" % key)  # paths in a manifest are relative: keyed by content
    if cache.exists():
        z = np.load(cache)
        lens = z["lens"]
        flat = z["flat"]
        offs = np.concatenate([[0], np.cumsum(lens)])
        return entries, [flat[offs[i]:offs[i + 1]] for i in range(len(lens))]
    t0 = time.time()
    tables = feat.build_tables()
    feats = []
    for i, e in enumerate(entries):
        pcm = read_wav(e["path"])
        feats.append(feat.features(band_limited(pcm, e["file"], cut) if band else pcm, tables))
        if i % 1000 == 0:
            log("features %s: %d/%d (%.0f s)" % (split_dir, i, len(entries), time.time() - t0))
    cache.parent.mkdir(parents=True, exist_ok=True)
    np.savez(cache, lens=np.array([len(f) for f in feats]), flat=np.concatenate(feats))
    return entries, feats


# ---------------------------------------------------------------- targets and batches

def frame_targets(n, e):
    """Per-frame target (1/0) and mask for one clip; frame i ends at (i + 1) * HOP_S."""
    y = np.zeros(n, np.float32)
    mask = np.ones(n, np.float32)
    if e["label"] == "pos":
        te = (np.arange(n) + 1) * HOP_S
        we = e["word_end_s"]
        y[(te >= we - POS_BEFORE) & (te <= we + POS_AFTER)] = 1
        mask[(te > we - 0.45) & (te < we - POS_BEFORE)] = 0   # half-heard word: no opinion
        mask[(te > we + POS_AFTER) & (te < we + 0.7)] = 0
    return y, mask


NEAR_MISS_SHARE = 0.15  # of each batch's sequences: near misses ("Alexei", "a lexer", "Alessa")


class Batcher:
    """Sequences of CROP frames: clips with negative context before them, and negative crops."""

    def __init__(self, entries, feats, rng, pos_weights=None, band_feats=None, band_share=0.0,
                 band_per="draw"):
        self.rng = rng
        # Each clip's band-limited copy (same frames) stands in for it with p = band_share, for
        # positives and negatives alike, so a missing top band is never a cue either way.
        # band_per "draw" chooses for the clip and for the negative context put in front of it
        # independently (about 3 sequences in 10 change band where the clip starts: a cue for
        # "a phrase starts here"); "sequence" chooses once, so a sequence is all one band.
        if band_per not in BAND_PER:
            raise EarshotError("band_per must be one of %s, not %r" % (", ".join(BAND_PER),
                                                                     band_per))
        self.band_share = band_share if band_feats is not None else 0.0
        self.band_per = band_per
        if band_feats is None:
            band_feats = feats
        feats = [(f, b) for f, b in zip(feats, band_feats)]
        self.pos = [(f, e) for f, e in zip(feats, entries) if e["label"] == "pos"]
        # Positives drawn in proportion to their engine's weight (pos_weights: {"piper": 0.3}),
        # so one voice with many renders does not stand for the word; uniform by default.
        w = np.array([(pos_weights or {}).get(e["voice"].split(":")[0], 1.0)
                      for _, e in self.pos], np.float64)
        self._pos_cdf = np.cumsum(w) / w.sum() if pos_weights and w.sum() > 0 else None
        self.nm = [(f, e) for f, e in zip(feats, entries) if e["label"] == "nearmiss"]
        self.neg = [f for f, e in zip(feats, entries) if e["label"] == "neg" and len(f[0]) > CROP]
        self.hard = []  # (negative file index, frame) where the model last scored highest
        if not self.pos or not self.neg:
            raise EarshotError("the train split needs positives and long negatives")

    def _which(self, pair, band=None):
        """The clip's features, or its band-limited copy's with p = band_share (or as `band`,
        a choice already made for the whole sequence, says)."""
        if band is None:
            band = self._draw_band()
        return pair[1] if band else pair[0]

    def _draw_band(self):
        """True with p = band_share: take the band-limited copy (no draw when it is 0)."""
        return bool(self.band_share) and self.rng.random() < self.band_share

    def _neg_crop(self, n, band=None):
        if self.hard and n == CROP and self.rng.random() < HARD_SHARE:
            k, peak = self.hard[self.rng.integers(len(self.hard))]
            f = self._which(self.neg[k])
            # the peak anywhere in the crop's last 3/4, where the net has context for it
            s = int(np.clip(peak - self.rng.integers(CROP // 4, CROP), 0, len(f) - n))
            return f[s:s + n]
        f = self._which(self.neg[self.rng.integers(len(self.neg))], band)
        s = self.rng.integers(0, len(f) - n + 1)
        return f[s:s + n]

    def mine(self, net, count=HARD_COUNT):
        """Hard negatives: the `count` highest logit peaks (at least 1 s apart) over all long
        negatives, under the current net; later negative crops are drawn around them."""
        torch = _torch()
        training = net.training
        net.eval()
        peaks = []
        with torch.no_grad():
            for k, (f, _) in enumerate(self.neg):
                z = net(torch.from_numpy(f[None].astype(np.float32)))[0].numpy()
                for _ in range(max(1, count // len(self.neg) * 3)):
                    i = int(np.argmax(z))
                    if not np.isfinite(z[i]):
                        break  # a short file has fewer peaks 1 s apart
                    peaks.append((float(z[i]), k, i))
                    z[max(0, i - 50):i + 50] = -np.inf
        net.train(training)
        peaks.sort(reverse=True)
        self.hard = [(k, i) for _, k, i in peaks[:count]]
        return peaks[0][0], peaks[min(count, len(peaks)) - 1][0]

    def _clip(self, pair, e):
        band = self._draw_band() if self.band_per == "sequence" else None
        f = self._which(pair, band)
        y, m = frame_targets(len(f), e)
        if len(f) >= CROP:
            # keep the end of the word inside the crop
            hi = len(f) - CROP
            s = 0 if e["label"] != "pos" else min(hi, max(0, int(e["word_end_s"] / HOP_S) + 20 - CROP))
            s = min(hi, s + int(self.rng.integers(0, 10))) if hi > 0 else 0
            return f[s:s + CROP], y[s:s + CROP], m[s:s + CROP]
        k = CROP - len(f)
        ctx = self._neg_crop(k, band) if self.rng.random() < 0.7 else np.zeros((k, feat.N_BANDS), np.uint8)
        return (np.concatenate([ctx, f]), np.concatenate([np.zeros(k, np.float32), y]),
                np.concatenate([np.ones(k, np.float32), m]))

    def batch(self, n, frac_pos=0.35, frac_nm=NEAR_MISS_SHARE):
        X = np.zeros((n, CROP, feat.N_BANDS), np.uint8)
        Y = np.zeros((n, CROP), np.float32)
        W = np.ones((n, CROP), np.float32)
        for i in range(n):
            r = self.rng.random()
            if r < frac_pos:
                if self._pos_cdf is None:  # as before weights existed: same draws per seed
                    k = self.rng.integers(len(self.pos))
                else:
                    k = int(np.searchsorted(self._pos_cdf, self.rng.random(), side="right"))
                X[i], Y[i], W[i] = self._clip(*self.pos[min(k, len(self.pos) - 1)])
            elif r < frac_pos + frac_nm and self.nm:
                X[i], Y[i], W[i] = self._clip(*self.nm[self.rng.integers(len(self.nm))])
            else:
                X[i] = self._neg_crop(CROP)
        augment(X, self.rng)
        return X, Y, W


TILT_STEPS = 8      # spectral tilt: up to +-8 feature steps (6 dB) from the middle band to the ends
VTLP = (0.9, 1.1)   # band-axis warp (vocal tract length), applied to a third of the sequences


def augment(X, rng):
    """In place, per sequence: gain (+-12 feature steps = +-9 dB, clipped like the frontend),
    a spectral tilt (microphones and rooms colour the spectrum; the same for positives and
    negatives, so a colour is never a cue), a band-axis warp (VTLP: another vocal tract), and
    SpecAugment-style masks (a few bands, a few frames) so no single cue carries the word."""
    n, T, B = X.shape
    ramp = (np.arange(B) - (B - 1) / 2.0) / ((B - 1) / 2.0)
    for i in range(n):
        x = X[i].astype(np.int16)
        if rng.random() < 0.33:
            a = rng.uniform(*VTLP)
            src = np.clip(np.arange(B) / a, 0, B - 1)
            lo = np.floor(src).astype(int)
            hi = np.minimum(lo + 1, B - 1)
            w = src - lo
            x = np.round(x[:, lo] * (1 - w) + x[:, hi] * w).astype(np.int16)
        shift = int(rng.integers(-12, 13))
        if rng.random() < 0.5:
            shift = shift + np.round(rng.uniform(-TILT_STEPS, TILT_STEPS) * ramp).astype(np.int16)
        x = np.where(x > 0, x + shift, x)
        if rng.random() < 0.5:
            b = int(rng.integers(0, B - 4))
            x[:, b:b + int(rng.integers(1, 5))] = 0
        if rng.random() < 0.5:
            t = int(rng.integers(0, T - 6))
            x[t:t + int(rng.integers(1, 6))] = 0
        X[i] = np.clip(x, 0, feat.FEAT_MAX)


# ---------------------------------------------------------------- torch model

def _torch():
    try:
        import torch
    except ImportError:
        raise EarshotError("training needs torch: pip install -e '.[train]' "
                           "(or pip install torch==2.13.0)") from None
    return torch


def build_net(channels=CHANNELS, dilations=DILATIONS):
    torch = _torch()
    nn = torch.nn
    F = torch.nn.functional

    def ste_round(x):
        return x + (torch.round(x) - x).detach()

    def qweight(w, on):
        if not on:
            return w
        s = w.detach().abs().amax(dim=tuple(range(1, w.dim())), keepdim=True).clamp_min(1e-8) / 127
        return ste_round(w / s) * s

    def qact(x, on):
        x = torch.clamp(x, 0, ACT_MAX)
        return ste_round(x / ACT_SCALE) * ACT_SCALE if on else x

    class TCN(nn.Module):
        def __init__(self):
            super().__init__()
            self.dilations = list(dilations)
            self.conv0 = nn.Conv1d(feat.N_BANDS, channels, 3)
            self.dw = nn.ModuleList(nn.Conv1d(channels, channels, 3, dilation=d, groups=channels)
                                    for d in dilations)
            self.pw = nn.ModuleList(nn.Conv1d(channels, channels, 1) for _ in dilations)
            self.head = nn.Conv1d(channels, 1, 1)
            # batch norm speeds up the float phase; fold_bn() merges it into the convs before the
            # quantisation-aware phase, so the board never sees it
            self.bn = nn.ModuleList(nn.BatchNorm1d(channels) for _ in range(1 + 2 * len(dilations)))
            self.use_bn = True
            self.quant = False

        def _norm(self, i, x):
            return self.bn[i](x) if self.use_bn else x

        @torch.no_grad()
        def fold_bn(self):
            convs = [self.conv0]
            for dw, pw in zip(self.dw, self.pw):
                convs += [dw, pw]
            for conv, bn in zip(convs, self.bn):
                k = bn.weight / torch.sqrt(bn.running_var + bn.eps)
                conv.weight.mul_(k.view(-1, *([1] * (conv.weight.dim() - 1))))
                conv.bias.copy_((conv.bias - bn.running_mean) * k + bn.bias)
            self.use_bn = False

        def _conv(self, m, x, pad, dil=1, groups=1):
            return F.conv1d(F.pad(x, (pad, 0)), qweight(m.weight, self.quant), m.bias,
                            dilation=dil, groups=groups)

        def forward(self, f):  # f: (B, T, 32) feature integers as float
            q = self.quant
            x = f.transpose(1, 2) * ACT_SCALE
            h = qact(self._norm(0, self._conv(self.conv0, x, 2)), q)
            for i, (dw, pw, d) in enumerate(zip(self.dw, self.pw, self.dilations)):
                u = qact(self._norm(1 + 2 * i, self._conv(dw, h, 2 * d, d, h.shape[1])), q)
                h = qact(self._norm(2 + 2 * i, self._conv(pw, u, 0)), q)
            return self._conv(self.head, h, 0)[:, 0, :]  # logits (B, T)

    return TCN()


def _quant_layer(w, b, in_scale, out_scale, kind):
    w = w.reshape(w.shape[0], -1).astype(np.float64)
    sw = np.maximum(np.abs(w).max(axis=1), 1e-8) / 127
    wq = np.clip(np.round(w / sw[:, None]), -127, 127).astype(np.int64)
    bq = np.clip(np.round(b / (in_scale * sw)), -M.BIAS_LIMIT, M.BIAS_LIMIT).astype(np.int64)
    Mq, S = M.requant_params(in_scale * sw / out_scale)
    return {"kind": kind, "w": wq, "b": bq, "m": Mq, "s": S}


def quantise(net):
    """Float TCN -> integer model dict (model.py layout)."""
    sd = {k: v.detach().cpu().numpy() for k, v in net.state_dict().items()}
    layers = []
    w0 = sd["conv0.weight"]  # (C, 32, 3): flatten oldest frame first, like the board's window
    w0 = np.transpose(w0, (0, 2, 1)).reshape(w0.shape[0], -1)
    layers.append(_quant_layer(w0, sd["conv0.bias"], ACT_SCALE, ACT_SCALE, "conv0"))
    for i in range(len(net.dilations)):
        layers.append(_quant_layer(sd["dw.%d.weight" % i][:, 0, :], sd["dw.%d.bias" % i],
                                   ACT_SCALE, ACT_SCALE, "dw"))
        layers.append(_quant_layer(sd["pw.%d.weight" % i][:, :, 0], sd["pw.%d.bias" % i],
                                   ACT_SCALE, ACT_SCALE, "pw"))
    layers.append(_quant_layer(sd["head.weight"][:, :, 0], sd["head.bias"], ACT_SCALE,
                               1.0 / M.LOGIT_Q, "head"))
    return {"channels": int(net.conv0.weight.shape[0]), "dilations": list(net.dilations),
            "layers": layers}


# ---------------------------------------------------------------- threshold

def pick_threshold(qmodel, manifest, pos_feats, neg_feats, target_fa_h, nm_feats=(),
                   max_near_miss=None):
    """Lowest threshold whose false accepts on held-back negatives stay <= target per hour
    and, with `max_near_miss`, that fires on at most that share of the near misses."""
    neg_scores = [M.scores(qmodel, manifest, f) for f in neg_feats]
    hours = sum(len(f) for f in neg_feats) * HOP_S / 3600
    pos_max = np.array([M.scores(qmodel, manifest, f).max() for f in pos_feats])
    nm_max = np.array([M.scores(qmodel, manifest, f).max() for f in nm_feats])
    best = None
    for thr in range(manifest["score_max"], 0, -2):
        man = dict(manifest, threshold=thr)
        fa = sum(len(M.detections(s, man)) for s in neg_scores)
        if fa / hours > target_fa_h:
            break
        if max_near_miss is not None and len(nm_max) and np.mean(nm_max >= thr) > max_near_miss:
            break
        best = (thr, fa / hours, float(np.mean(pos_max < thr)))
    return best, hours


def threshold_rule(max_near_miss=None):
    rule = "lowest with <= %.2f false accepts/hour on the held split's negatives" % (
        TARGET_FA_PER_HOUR)
    if max_near_miss is not None:
        rule += " and <= %d%% of its near misses firing" % round(100 * max_near_miss)
    return rule


def rethreshold(model_bin, data_root, max_near_miss=None, log=print):
    """Set a trained model's threshold again by the rule (its manifest says which), on the
    held split of `data_root`; returns (threshold, FA/h, false rejects)."""
    qm, man = M.load(model_bin, Path(model_bin).with_suffix(".json"))
    entries, feats = split_features(Path(data_root) / "held", log=log)
    pick = {k: [f for f, e in zip(feats, entries) if e["label"] == k]
            for k in ("pos", "neg", "nearmiss")}
    best, hours = pick_threshold(qm, man, pick["pos"], pick["neg"], TARGET_FA_PER_HOUR,
                                 pick["nearmiss"], max_near_miss)
    thr, fa_h, frr = best if best else (man["score_max"], 0.0, 1.0)
    path = Path(model_bin).with_suffix(".json")
    raw = json.loads(path.read_text())
    raw["threshold"] = int(thr)
    raw.setdefault("training", {})["threshold_rule"] = threshold_rule(max_near_miss)
    raw["training"]["held"] = dict(raw["training"].get("held", {}), neg_hours=round(hours, 2),
                                   fa_per_hour=round(fa_h, 3), false_reject=round(frr, 4))
    path.write_text(json.dumps(raw, indent=1) + "\n")
    return int(thr), fa_h, frr


def speaker_of(voice_id):
    """The whole speakers behind a manifest voice: a Kokoro blend is each of its bases
    ('kokoro:a*0.3+b*0.7' -> {'kokoro:a', 'kokoro:b'}); any other voice is itself."""
    engine, _, name = voice_id.partition(":")
    if engine == "kokoro":
        return {"kokoro:" + p.partition("*")[0] for p in name.split("+")}
    return {voice_id}


def without_speakers(entries, speakers):
    """Indices of entries whose voice involves none of `speakers` (long negatives, spoken by
    many voices, all stay: see docs/wakeword.md on leave-speakers-out)."""
    speakers = set(speakers or ())
    return [i for i, e in enumerate(entries) if not (speaker_of(e["voice"]) & speakers)]


def frame_loss(logits, y, w, weight_by=None):
    """Per-frame cross entropy, target frames weighted 5x (they are few): by their labels
    (`weight_by`, the hard labels when y are distilled soft targets; y itself otherwise)."""
    torch = _torch()
    w = w * (1 + 4 * (y if weight_by is None else weight_by))
    return (torch.nn.functional.binary_cross_entropy_with_logits(logits, y, reduction="none")
            * w).sum() / w.sum()


def load_teacher(path):
    """A trained net as train() leaves it in .cache/ww/<stem>.pt (batch norm folded, the
    quantisation simulated in float, as in the student's last phase), of any width, frozen."""
    torch = _torch()
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except OSError as e:
        raise EarshotError("%s: not a teacher this trainer can load (%s)"
                           % (path, e.strerror or e)) from None
    except (RuntimeError, ValueError, EOFError, pickle.UnpicklingError):
        raise EarshotError("%s: not a teacher this trainer can load (not a net it saved: "
                           "those are .cache/ww/<name>.pt)" % path) from None
    try:
        net = build_net(int(state["conv0.weight"].shape[0]))
        net.load_state_dict(state)
    except (RuntimeError, TypeError, AttributeError, KeyError, IndexError):
        raise EarshotError("%s: not a teacher this trainer can load (not a net of this "
                           "trainer's layers)" % path) from None
    net.use_bn, net.quant = False, True
    net.eval()
    for p in net.parameters():
        p.requires_grad_(False)
    return net


def distilled_targets(teachers, X, Y, share):
    """Each frame's target: (1 - share) of its label plus `share` of the teachers' ensemble
    (the mean of their frame probabilities)."""
    torch = _torch()
    with torch.no_grad():
        p = torch.stack([torch.sigmoid(t(X)) for t in teachers]).mean(0)
    return (1 - share) * Y + share * p


def train(word, data_root=None, out_dir="firmware/models", steps=3000, batch=64, seed=0,
          channels=CHANNELS, log=print, threads=1, mine=True, exclude_speakers=(), name=None,
          near_miss_share=NEAR_MISS_SHARE, max_near_miss=None, pos_weights=None,
          band_share=BAND_SHARE, band_per="draw", teachers=(), distill=DISTILL_SHARE):
    """Train on the train split (minus `exclude_speakers`, for leave-speakers-out runs), pick
    the threshold on the held split (never on dev), write out_dir/<name or slug>.{bin,json}.
    With `teachers` (.pt files of earlier runs), the frame targets mix in their ensemble."""
    torch = _torch()
    from . import dataset_text
    slug = dataset_text.slug(word)
    stem = name or slug
    state_out = Path(".cache/ww") / (stem + ".pt")
    for t in teachers:
        if Path(t).resolve() == state_out.resolve():
            raise EarshotError("%s is where this run saves its own net: it cannot also teach "
                               "it (give the student another --name)" % t)
    # Teachers first: building them draws from torch's generator, which must not move the
    # student's initial weights (a seed starts the same net with or without teachers).
    teacher_nets = [load_teacher(t) for t in teachers]
    torch.manual_seed(seed)
    torch.set_num_threads(threads)
    root = Path(data_root or Path("data/wakeword") / slug)
    entries, feats = split_features(root / "train", log=log)
    tr = without_speakers(entries, exclude_speakers)
    log("training on %d of %d train entries (left out: %s)"
        % (len(tr), len(entries), ", ".join(sorted(exclude_speakers)) or "none"))
    rng = np.random.default_rng(seed)
    band_feats = None
    if band_share > 0:
        band_feats = split_features(root / "train", log=log, band=True)[1]
        band_feats = [band_feats[i] for i in tr]
    bat = Batcher([entries[i] for i in tr], [feats[i] for i in tr], rng, pos_weights,
                  band_feats, band_share, band_per)
    net = build_net(channels)
    opt = torch.optim.AdamW(net.parameters(), lr=3e-3, weight_decay=1e-3)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=3e-3, total_steps=int(steps * 0.6),
                                                pct_start=0.1)
    t0 = time.time()
    float_steps = int(steps * 0.6)
    mine_steps = {int(steps * f) for f in MINE_AT}
    for step in range(steps):
        if step == float_steps:
            # fold batch norm, then fine-tune with quantisation simulated (and BN statistics frozen)
            net.eval()
            net.fold_bn()
            net.quant = True
            opt = torch.optim.AdamW(net.parameters(), lr=3e-4, weight_decay=1e-3)
            sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps - float_steps)
        if mine and step in mine_steps:
            top, last = bat.mine(net)
            log("step %d: mined %d hard negatives, logits %.2f .. %.2f" % (step, len(bat.hard),
                                                                          top, last))
        X, Y, W = bat.batch(batch, frac_nm=near_miss_share)
        X = torch.from_numpy(X.astype(np.float32))
        Y = torch.from_numpy(Y)
        target = distilled_targets(teacher_nets, X, Y, distill) if teacher_nets else Y
        loss = frame_loss(net(X), target, torch.from_numpy(W), weight_by=Y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        if step % 200 == 0 or step == steps - 1:
            log("step %d/%d loss %.4f (%.0f s)" % (step, steps, loss.item(), time.time() - t0))
    if net.use_bn:
        net.eval()
        net.fold_bn()
    net.quant = True
    qm = quantise(net)
    # the integer model must track the float one it came from
    X, _, _ = bat.batch(16)
    with torch.no_grad():
        ref = net(torch.from_numpy(X.astype(np.float32))).numpy()
    got = np.stack([M.logits(qm, x) for x in X]) / M.LOGIT_Q
    log("integer vs float logits: mean |diff| %.3f (float |logit| %.3f)"
        % (np.abs(np.clip(ref, -127 / M.LOGIT_Q, 127 / M.LOGIT_Q) - got).mean(), np.abs(ref).mean()))
    manifest = {"word": word, "smooth": SMOOTH, "threshold": 0,
                "refractory": int(round(REFRACTORY_S / HOP_S)), "score_max": 254 * SMOOTH}
    h_entries, h_feats = split_features(root / "held", log=log)
    pos_h = [f for f, e in zip(h_feats, h_entries) if e["label"] == "pos"]
    neg_h = [f for f, e in zip(h_feats, h_entries) if e["label"] == "neg"]
    nm_h = [f for f, e in zip(h_feats, h_entries) if e["label"] == "nearmiss"]
    best, hours = pick_threshold(qm, manifest, pos_h, neg_h, TARGET_FA_PER_HOUR, nm_h,
                                 max_near_miss)
    thr, fa_h, frr = best if best else (manifest["score_max"], 0.0, 1.0)
    manifest["threshold"] = int(thr)
    manifest["training"] = {
        "data": str(root / "train"), "steps": steps, "batch": batch, "seed": seed,
        "near_miss_share": near_miss_share,
        "pos_weights": dict(pos_weights or {}),
        "band_limited": (dict({"share": band_share, "cutoff_hz": list(BAND_HZ),
                               "floor_dbfs": BAND_FLOOR_DBFS},
                              # "draw" is left out: the models made before the choice existed
                              **({"per": band_per} if band_per != "draw" else {}))
                         if band_share > 0 else None),
        "hard_negatives": ({"share": HARD_SHARE, "count": HARD_COUNT, "mined_at": list(MINE_AT)}
                           if mine else None),
        "excluded_speakers": sorted(exclude_speakers),
        **({"teachers": [Path(t).stem for t in teachers], "distill": distill}
           if teachers else {}),
        "seconds": round(time.time() - t0, 1),
        "held": {"data": str(root / "held"), "neg_hours": round(hours, 2),
                 "fa_per_hour": round(fa_h, 3), "false_reject": round(frr, 4)},
        "threshold_rule": threshold_rule(max_near_miss),
    }
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    man = M.save(out / (stem + ".bin"), out / (stem + ".json"), qm, manifest)
    log("saved %s (%d bytes), threshold %d: held FA/h %.3f, FRR %.4f"
        % (out / (stem + ".bin"), man["model_bytes"], thr, fa_h, frr))
    state_out.parent.mkdir(parents=True, exist_ok=True)
    torch.save(net.state_dict(), state_out)
    return man


def _weights(text):
    out = {}
    for part in filter(None, text.split(",")):
        engine, _, w = part.partition("=")
        try:
            out[engine.strip()] = float(w)
        except ValueError:
            raise argparse.ArgumentTypeError("%r: give ENGINE=WEIGHT, e.g. piper=0.3" % part)
        if out[engine.strip()] < 0:
            raise argparse.ArgumentTypeError("%r: a weight is 0 or more" % part)
    return out


def _share(text):
    try:
        p = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError("%r is not a number" % text) from None
    if not 0.0 <= p <= 1.0:
        raise argparse.ArgumentTypeError("%s: a share is from 0 to 1" % text)
    return p


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m host_tools.wakeword.train")
    p.add_argument("--word", required=True)
    p.add_argument("--data", help="dataset root (default data/wakeword/<slug>)")
    p.add_argument("--out", default="firmware/models")
    p.add_argument("--steps", type=int, default=3000)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--channels", type=int, default=CHANNELS)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-mining", action="store_true", help="no hard-negative mining")
    p.add_argument("--exclude-speakers", nargs="*", default=[],
                   help="whole speakers to leave out of training (e.g. flite:awb kokoro:jm_kumo)")
    p.add_argument("--name", help="model file stem (default: the word's slug)")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--near-miss-share", type=float, default=NEAR_MISS_SHARE,
                   help="share of each batch that is near misses (default %.2f)" % NEAR_MISS_SHARE)
    p.add_argument("--max-near-miss", type=float,
                   help="the threshold also keeps the held near misses that fire at or under "
                        "this share (e.g. 0.10)")
    p.add_argument("--pos-weights", type=_weights, default={}, metavar="ENGINE=W,...",
                   help="draw positives in proportion to their engine's weight (e.g. "
                        "piper=0.3,espeak=2; default: every positive alike)")
    p.add_argument("--band-share", type=_share, default=BAND_SHARE, metavar="P",
                   help="draw each clip's band-limited copy (cut off at %d-%d Hz) instead of "
                        "the clip with probability P, positives and negatives alike "
                        "(default %.1f; 0: never)" % (BAND_HZ + (BAND_SHARE,)))
    p.add_argument("--band-per", choices=BAND_PER, default="draw",
                   help="one band choice per clip or context crop (draw, the default) or per "
                        "whole training sequence (sequence)")
    p.add_argument("--teacher", action="append", default=[], metavar="PT",
                   help="a trained net (.cache/ww/<stem>.pt) whose frame probabilities, averaged "
                        "over every --teacher, make up --distill of each frame's target")
    p.add_argument("--distill", type=_share, metavar="P",
                   help="the teachers' share of each frame's target (default %.1f; only with "
                        "--teacher)" % DISTILL_SHARE)
    p.add_argument("--rethreshold", metavar="MODEL_BIN",
                   help="no training: set MODEL_BIN's threshold again by the rule, on --data")
    a = p.parse_args(argv)
    if a.distill is not None and not a.teacher:
        p.error("--distill needs --teacher: without teachers there is nothing to mix in")
    if a.rethreshold:
        from . import dataset_text

        root = a.data or str(Path("data/wakeword") / dataset_text.slug(a.word))
        try:
            thr, fa_h, frr = rethreshold(a.rethreshold, root, a.max_near_miss,
                                         log=lambda m: print(m, file=sys.stderr))
        except (EarshotError, OSError, ValueError) as e:
            print("train: %s" % e, file=sys.stderr)
            return 1
        print("%s: threshold %d (held FA/h %.3f, false rejects %.4f)"
              % (a.rethreshold, thr, fa_h, frr))
        return 0
    try:
        train(a.word, a.data, a.out, a.steps, a.batch, a.seed, a.channels,
              log=lambda m: print(m, file=sys.stderr), mine=not a.no_mining,
              exclude_speakers=a.exclude_speakers, name=a.name, threads=a.threads,
              near_miss_share=a.near_miss_share, max_near_miss=a.max_near_miss,
              pos_weights=a.pos_weights, band_share=a.band_share, band_per=a.band_per,
              teachers=a.teacher,
              distill=DISTILL_SHARE if a.distill is None else a.distill)
    except EarshotError as e:
        print("train: %s" % e, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
