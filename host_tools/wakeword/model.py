"""The quantised wake-word model: file format, and the numpy reference of the board's inference.

A streaming dilated temporal convolution network over the 20 ms feature frames:

  conv0   causal conv over the last 3 frames (3 x 32 features -> C channels), ReLU
  block i (dilation d = 2, 4, 8, 16): depthwise causal conv over frames t, t-d, t-2d, ReLU,
          then pointwise C -> C, ReLU
  head    C -> 1 logit, in 1/4 units, clamped to +-127
  score   (logit + 127), 0..254, summed over the last `smooth` hops: a moving sum of the logit,
          which keeps its resolution where a confident model lives (a sigmoid would saturate)

Receptive field 3 + 2 * (2 + 4 + 8 + 16) = 63 frames (1.26 s); every hop computes exactly one new
output per layer (the board keeps a ring of past outputs per layer), so work per hop is constant.

Integer arithmetic (identical on the board, `firmware/earshot/ww_model.py`):
  activations  0..127 (uint7); features are 0..127 too
  weights      int8 stored offset-binary (u = w + 128, 0..255): sum(u*x) - 128*sum(x) = sum(w*x)
  accumulator  |acc| <= n_in * 127 * 127 + |bias| <= 96 * 16129 + 2^19 < 2^21.1
  requantise   y = clamp((acc * M + 2^(S-1)) >> S, 0, 127), per output channel M in 1..511,
               S in 1..30: |acc * M| < 2^30, + 2^29 < 2^31
Everything fits int32, so the board's 32-bit viper ints and the Unix port's 64-bit ones agree.

The numpy reference below evaluates the same sums with float64 matrix products, which are exact
because every partial sum is an integer of magnitude below 2^53.
"""

import json
from pathlib import Path

import numpy as np

from . import features as feat

MAGIC = b"EWW1"
VERSION = 1
LOGIT_Q = 4           # head output is logit * 4
BIAS_LIMIT = 1 << 19  # |bias| bound used in the int32 proof above
M_MAX = 511


# ---------------------------------------------------------------- file format
# The .bin is a sequence of tensors, each 4-byte aligned; the manifest names their offsets.
# Per layer: l<i>_w (n_out x n_in offset-binary uint8; conv0's n_in is oldest frame first) and
# l<i>_q (n_out x 4 uint16: bias low half, bias high half, M, S).

def _pack(tensors):
    blob = bytearray(MAGIC)
    index = {}
    for name, arr in tensors:
        while len(blob) % 4:
            blob.append(0)
        data = arr.tobytes()
        index[name] = [len(blob), len(data)]
        blob += data
    return bytes(blob), index


def save(path_bin, path_json, qmodel, manifest_extra):
    """Write model tensors (+ frontend tables) and the manifest JSON."""
    tables = feat.build_tables()
    tensors = [
        ("window", tables["window"].astype("<i2")),
        ("tw_re", tables["tw_re"].astype("<i2")),
        ("tw_im", tables["tw_im"].astype("<i2")),
        ("mel_seg", tables["mel_seg"].astype("i1")),
        ("mel_w", tables["mel_w"].astype("u1")),
    ]
    for li, layer in enumerate(qmodel["layers"]):
        tensors.append(("l%d_w" % li, (layer["w"].astype(np.int16) + 128).astype("u1")))
        b = layer["b"].astype(np.int64)
        q = np.stack([b & 0xFFFF, (b >> 16) & 0xFFFF, layer["m"], layer["s"]], axis=1)
        tensors.append(("l%d_q" % li, q.astype("<u2")))
    blob, index = _pack(tensors)
    manifest = dict(manifest_extra)
    manifest.update({
        "type": "earshot-tcn",
        "version": VERSION,
        "model": Path(path_bin).name,
        "model_bytes": len(blob),
        "features": feat.frontend_params(),
        "channels": qmodel["channels"],
        "dilations": qmodel["dilations"],
        "layers": [l["kind"] for l in qmodel["layers"]],
        "tensors": index,
        "logit_q": LOGIT_Q,
        "score_max": 254 * manifest["smooth"],
        "hop_s": feat.HOP / feat.SAMPLE_RATE,
    })
    Path(path_bin).write_bytes(blob)
    Path(path_json).write_text(json.dumps(manifest, indent=1) + "\n")
    return manifest


def _board_check():
    """The board's own model check (firmware/earshot/ww_bounds.py, plain Python), so the host
    refuses exactly the models the board refuses: one owner for the proof's premises."""
    import importlib.util

    from ..resources import firmware_dir

    path = firmware_dir() / "earshot" / "ww_bounds.py"
    spec = importlib.util.spec_from_file_location("earshot_ww_bounds", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod.check


def load(path_bin, path_json):
    manifest = json.loads(Path(path_json).read_text())
    blob = Path(path_bin).read_bytes()
    if blob[:4] != MAGIC:
        raise ValueError("%s is not an Earshot wake-word model" % path_bin)
    _board_check()(Path(path_bin).name, manifest, blob)
    idx = manifest["tensors"]

    def t(name, dtype):
        off, n = idx[name]
        return np.frombuffer(blob, dtype=dtype, count=n // np.dtype(dtype).itemsize, offset=off)

    C = manifest["channels"]
    layers = []
    for li, kind in enumerate(manifest["layers"]):
        w = t("l%d_w" % li, "u1").astype(np.int64) - 128
        n_out = 1 if kind == "head" else C
        q = t("l%d_q" % li, "<u2").astype(np.int64).reshape(n_out, 4)
        b = q[:, 0] + (((q[:, 1] ^ 0x8000) - 0x8000) << 16)
        layers.append({"kind": kind, "w": w.reshape(n_out, -1), "b": b, "m": q[:, 2], "s": q[:, 3]})
    qmodel = {"channels": C, "dilations": manifest["dilations"], "layers": layers}
    return qmodel, manifest


def requant_params(m):
    """Real multipliers -> integer (M, S), M <= 511 and 1 <= S <= 30 (the bounds above)."""
    m = np.asarray(m, np.float64)
    S = np.clip(np.floor(np.log2(M_MAX / np.maximum(m, 1e-12))).astype(np.int64), 1, 30)
    Mq = np.clip(np.round(m * (2.0 ** S)), 0, M_MAX).astype(np.int64)
    return Mq, S


def random_model(seed=0, channels=16, dilations=(2, 4, 8, 16), nfeat=feat.N_BANDS):
    """A deterministic untrained integer model with lively activations (for equivalence tests)."""
    rng = np.random.default_rng(seed)

    def layer(kind, n_out, n_in, gain, bias=BIAS_LIMIT // 64):
        w = rng.integers(-127, 128, size=(n_out, n_in))
        Mq, S = requant_params(np.full(n_out, gain / np.sqrt(n_in)))
        b = rng.integers(-bias, bias + 1, size=n_out)
        return {"kind": kind, "w": w, "b": b, "m": Mq, "s": S}

    layers = [layer("conv0", channels, 3 * nfeat, 1 / 60)]
    for _ in dilations:
        layers += [layer("dw", channels, 3, 1 / 60), layer("pw", channels, channels, 1 / 60)]
    layers.append(layer("head", 1, channels, 1 / 10, bias=0))
    return {"channels": channels, "dilations": list(dilations), "layers": layers}


# ---------------------------------------------------------------- reference inference

def _requant(acc, layer, lo, hi, stats=None):
    m = layer["m"][None, :]
    s = layer["s"][None, :]
    v = acc * m + (np.int64(1) << (s - 1))
    if stats is not None and v.size:
        stats["acc"] = max(stats.get("acc", 0), int(np.abs(acc).max()))
        stats["requant"] = max(stats.get("requant", 0), int(np.abs(v).max()))
    return np.clip(v >> s, lo, hi)


def _mm(x, w):
    """Exact integer x @ w.T through float64 BLAS (all partial sums are integers < 2^53)."""
    return np.rint(x.astype(np.float64) @ w.T.astype(np.float64)).astype(np.int64)


def _delayed(h, k):
    """h shifted k frames later, zero-filled (the board's rings start zeroed)."""
    if k == 0:
        return h
    out = np.zeros_like(h)
    out[k:] = h[:-k] if k < len(h) else 0
    return out


def logits(qmodel, X, stats=None):
    """(T, 32) uint8 features -> (T,) int64 head logits (1/4 units), as the board computes.

    `stats`, if a dict, collects the largest |accumulator| and |acc * M + round| (bound tests).
    """
    X = np.asarray(X, dtype=np.int64)
    layers = qmodel["layers"]
    l0 = layers[0]
    U = np.concatenate([_delayed(X, 2), _delayed(X, 1), X], axis=1)  # oldest frame first
    h = _requant(_mm(U, l0["w"]) + l0["b"][None, :], l0, 0, 127, stats)
    li = 1
    for d in qmodel["dilations"]:
        dw, pw = layers[li], layers[li + 1]
        acc = (dw["w"][None, :, 0] * _delayed(h, 2 * d) + dw["w"][None, :, 1] * _delayed(h, d)
               + dw["w"][None, :, 2] * h)
        u = _requant(acc + dw["b"][None, :], dw, 0, 127, stats)
        h = _requant(_mm(u, pw["w"]) + pw["b"][None, :], pw, 0, 127, stats)
        li += 2
    head = layers[li]
    acc = _mm(h, head["w"]) + head["b"][None, :]
    return _requant(acc, head, -127, 127, stats)[:, 0]


def scores(qmodel, manifest, X):
    """(T,) int64 smoothed scores: sum of (logit + 127) (0..254) over the last `smooth` hops."""
    p = logits(qmodel, X) + 127
    c = np.concatenate([[0], np.cumsum(p)])
    W = manifest["smooth"]
    lo = np.maximum(np.arange(len(p)) + 1 - W, 0)
    return c[1:] - c[lo]


def detections(score, manifest):
    """Hop indices where the board fires: score >= threshold, then quiet for `refractory` hops."""
    thr = manifest["threshold"]
    refr = manifest["refractory"]
    out = []
    quiet_until = -1
    for i in np.flatnonzero(np.asarray(score) >= thr):
        if i > quiet_until:
            out.append(int(i))
            quiet_until = i + refr
    return out


def score_pcm(qmodel, manifest, pcm):
    """int16 PCM -> smoothed scores per 20 ms hop (the host twin of Detector.feed)."""
    return scores(qmodel, manifest, feat.features(pcm))
