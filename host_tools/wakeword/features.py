"""Reference of the firmware's fixed-point frontend, in numpy, vectorised over frames.

Every operation here is the integer operation `firmware/earshot/ww_front.py` performs, in the
same order with the same rounding (floor shifts), so the two agree bit for bit. Integer bounds
(all intermediates inside int32; the board's viper ints are 32 bits):

  frame       WIN=512 int16 samples ending at the newest sample; a new frame every HOP=320
              (20 ms at 16 kHz), so each 20 ms audio buffer gives exactly one feature frame.
  scale       m = max|x| over the frame; s = largest shift in 0..14 with (m << s) <= 16383.
              |x << s| <= 16383 (block floating point: quiet audio keeps its precision).
  window      y = ((x << s) * w) >> 15, Hann in Q15 (w <= 32767): |product| < 2^29, |y| <= 16383.
  FFT         512-point radix-2 DIT, in-place on int16 re/im, each butterfly
                t = (wr*b - wi*bi) >> 15  (|w| <= 32768, |b| <= R, so |.| <= 2^15 * R < 2^30)
                a', b' = (a + t) >> 1, (a - t) >> 1
              The complex modulus R of every value stays <= 16383 + 2*stage (floor errors), so
              re/im fit int16 and every product stays below 2^30.
  power       p_k = (re^2 + im^2) >> 2 for bins k = 0..256.  By Parseval (the FFT is scaled by
              1/512) sum_k |X_k|^2 <= max|y|^2 = 2^28 (+ rounding: < 2.9e8), so sum p_k < 7.3e7.
  mel         E_b = sum_k p_k * w_bk, triangular weights in Q4 (w_up + w_down = 16 on every bin):
              E_b <= 16 * sum p_k < 1.2e9 < 2^31.
  log         L = log2(E_b + 1) in Q6 (msb position + 6 fraction bits + a 16-entry correction
              table, integer only), minus 2*s in Q6 to undo the block scaling.
  feature     f = clamp((L + FEAT_OFFSET) >> 4, 0, 127): 0.25 log2 steps (0.75 dB), 95 dB range,
              from log2 energy -5 (below any real noise floor) to 26.75 (near a full-scale tone).
"""

import numpy as np

SAMPLE_RATE = 16000
HOP = 320
WIN = 512
NFFT = 512
N_BINS = NFFT // 2 + 1
N_BANDS = 32
F_LO = 125.0
F_HI = 7500.0
FEAT_OFFSET = 320  # Q6: feature 0 is log2 energy -5 (after undoing the block scaling)
FEAT_MAX = 127
SCALE_TARGET = 16383
MAX_SHIFT = 14

# round(64 * (log2(1 + f) - f)) at the middle of each 1/16 of the octave, f = (i + 0.5) / 16.
# Integer literals so the board and the host use the very same table.
LOG_CORR = (1, 2, 3, 4, 5, 5, 5, 5, 5, 5, 5, 4, 3, 2, 2, 1)


def _log_corr():
    f = (np.arange(16) + 0.5) / 16
    return tuple(int(v) for v in np.round(64 * (np.log2(1 + f) - f)))


def bit_reverse_table(n=NFFT):
    bits = n.bit_length() - 1
    rev = np.zeros(n, dtype=np.int64)
    for i in range(n):
        r = 0
        v = i
        for _ in range(bits):
            r = (r << 1) | (v & 1)
            v >>= 1
        rev[i] = r
    return rev


def _mel(f):
    return 2595.0 * np.log10(1.0 + f / 700.0)


def _imel(m):
    return 700.0 * (10 ** (m / 2595.0) - 1.0)


def build_tables():
    """The frontend's constant tables, as integer arrays (shipped inside every model file).

    They are computed here in float64 once and shipped, never recomputed on the board, whose
    single-precision math.cos could round differently.
    """
    n = np.arange(WIN)
    window = np.round(32767 * (0.5 - 0.5 * np.cos(2 * np.pi * n / WIN))).astype(np.int16)
    k = np.arange(NFFT // 2)
    tw_re = np.round(32767 * np.cos(2 * np.pi * k / NFFT)).astype(np.int16)
    tw_im = np.round(-32767 * np.sin(2 * np.pi * k / NFFT)).astype(np.int16)
    # Band edges in fractional bins; bin k lies on the rising edge of band seg[k] with weight
    # wq[k]/16 and on the falling edge of band seg[k]-1 with weight (16 - wq[k])/16.
    edges = _imel(np.linspace(_mel(F_LO), _mel(F_HI), N_BANDS + 2)) * NFFT / SAMPLE_RATE
    seg = np.full(N_BINS, -1, dtype=np.int8)
    wq = np.zeros(N_BINS, dtype=np.uint8)
    for b in range(N_BANDS + 1):
        lo, hi = edges[b], edges[b + 1]
        for kk in range(int(np.ceil(lo)), int(np.ceil(hi))):
            if 0 <= kk < N_BINS:
                seg[kk] = b
                wq[kk] = int(round(16 * (kk - lo) / (hi - lo)))
    return {"window": window, "tw_re": tw_re, "tw_im": tw_im, "mel_seg": seg, "mel_w": wq}


def frontend_params():
    return {
        "sample_rate": SAMPLE_RATE, "hop": HOP, "win": WIN, "nfft": NFFT, "bands": N_BANDS,
        "f_lo": F_LO, "f_hi": F_HI, "feat_offset": FEAT_OFFSET, "feat_q": "0.25 log2 per step",
        "scale_target": SCALE_TARGET, "max_shift": MAX_SHIFT,
    }


def _ilog2_q6(e):
    """log2(e + 1) in Q6 for int64 arrays of non-negative values < 2^31 (integer only)."""
    v = e + 1
    n = np.zeros_like(v)
    t = v.copy()
    for sh in (16, 8, 4, 2, 1):
        big = t >= (1 << sh)
        n += np.where(big, sh, 0)
        t = np.where(big, t >> sh, t)
    # 6 fraction bits below the msb: (v << (6 - n)) or (v >> (n - 6)), then drop the msb.
    frac = np.where(n >= 6, v >> np.maximum(n - 6, 0), v << np.maximum(6 - n, 0)) & 63
    corr = np.asarray(LOG_CORR, dtype=np.int64)[frac >> 2]
    return n * 64 + frac + corr


def mel_matrix(tables):
    """(N_BINS, N_BANDS) float64 matrix of the Q4 integer weights (seg/wq as the board uses)."""
    M = np.zeros((N_BINS, N_BANDS + 1))
    for k in range(N_BINS):
        b = int(tables["mel_seg"][k])
        if b < 0:
            continue
        if b < N_BANDS:
            M[k, b] += int(tables["mel_w"][k])
        if b >= 1:
            M[k, b - 1] += 16 - int(tables["mel_w"][k])
    return M[:, :N_BANDS]


def features(pcm, tables=None, chunk=4096):
    """int16 PCM (16 kHz mono) -> (n_frames, N_BANDS) uint8 features, one per 20 ms.

    Frame i ends at sample (i + 1) * HOP; the board's sample ring starts zeroed, so the first
    frame sees WIN - HOP leading zeros, exactly as here.
    """
    tables = tables or build_tables()
    pcm = np.asarray(pcm, dtype=np.int16)
    n = len(pcm) // HOP
    out = np.zeros((n, N_BANDS), dtype=np.uint8)
    for start in range(0, n, chunk):
        stop = min(n, start + chunk)
        seg = pcm[start * HOP: stop * HOP]
        # frames need the WIN-HOP samples before the chunk
        before = pcm[max(0, start * HOP - (WIN - HOP)): start * HOP]
        before = np.concatenate([np.zeros(WIN - HOP - len(before), dtype=np.int16), before])
        fr = frames_from_pcm_with_history(before, seg)
        out[start:stop] = features_of_frames(fr, tables)
    return out


def frames_from_pcm_with_history(history, pcm):
    x = np.concatenate([np.asarray(history, np.int64), np.asarray(pcm, np.int64)])
    n = len(pcm) // HOP
    idx = np.arange(n)[:, None] * HOP + np.arange(WIN)[None, :]
    return x[idx]


def _track(stats, name, v):
    if stats is not None and v.size:
        stats[name] = max(stats.get(name, 0), int(np.abs(v).max()))


def features_of_frames(x, tables, stats=None):
    """(F, WIN) int64 sample frames -> (F, N_BANDS) uint8, the board's integer arithmetic.

    `stats`, if a dict, collects the largest magnitude of each intermediate (for bound tests).
    """
    F = x.shape[0]
    m = np.abs(x).max(axis=1)
    s = np.zeros(F, dtype=np.int64)
    for _ in range(MAX_SHIFT):
        ok = (m << (s + 1)) <= SCALE_TARGET
        s = np.where(ok, s + 1, s)
    w = tables["window"].astype(np.int64)
    y = ((x << s[:, None]) * w[None, :]) >> 15
    rev = bit_reverse_table()
    re = np.empty_like(y)
    re[:, rev] = y
    im = np.zeros_like(re)
    twr = tables["tw_re"].astype(np.int64)
    twi = tables["tw_im"].astype(np.int64)
    h = 1
    while h < NFFT:
        step = (NFFT // 2) // h
        wr = twr[np.arange(h) * step][None, None, :]
        wi = twi[np.arange(h) * step][None, None, :]
        r = re.reshape(F, NFFT // (2 * h), 2, h)
        i = im.reshape(F, NFFT // (2 * h), 2, h)
        ar, ai, br, bi = r[:, :, 0, :], i[:, :, 0, :], r[:, :, 1, :], i[:, :, 1, :]
        pr, pi = wr * br - wi * bi, wr * bi + wi * br
        _track(stats, "fft_product", pr)
        _track(stats, "fft_product", pi)
        tr, ti = pr >> 15, pi >> 15
        nr0, ni0, nr1, ni1 = (ar + tr) >> 1, (ai + ti) >> 1, (ar - tr) >> 1, (ai - ti) >> 1
        re = np.stack([nr0, nr1], axis=2).reshape(F, NFFT)
        im = np.stack([ni0, ni1], axis=2).reshape(F, NFFT)
        _track(stats, "fft_value", re)
        _track(stats, "fft_value", im)
        h *= 2
    p = (re[:, :N_BINS] ** 2 + im[:, :N_BINS] ** 2) >> 2
    # float64 matmul is exact here: every partial sum is an integer below 2^31 < 2^53.
    E = np.rint(p.astype(np.float64) @ mel_matrix(tables)).astype(np.int64)
    _track(stats, "window_product", (x << s[:, None]) * w[None, :])
    _track(stats, "power", re[:, :N_BINS] ** 2 + im[:, :N_BINS] ** 2)
    _track(stats, "mel_energy", E)
    L = _ilog2_q6(E) - (2 * 64) * s[:, None]
    return np.clip((L + FEAT_OFFSET) >> 4, 0, FEAT_MAX).astype(np.uint8)
