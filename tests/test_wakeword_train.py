"""The trainer's batching (numpy only; training itself needs the optional torch extra)."""

import numpy as np

from host_tools.wakeword import features as feat
from host_tools.wakeword import train as T


def _split(n_neg_frames=3000):
    rng = np.random.default_rng(0)
    entries = [{"label": "pos", "word_end_s": 1.0, "voice": "espeak:a"},
               {"label": "neg", "voice": "mixed:1"}]
    feats = [rng.integers(0, 100, (80, feat.N_BANDS)).astype(np.uint8),
             np.zeros((n_neg_frames, feat.N_BANDS), np.uint8)]
    frame = np.arange(n_neg_frames)
    feats[1][:, 0], feats[1][:, 1] = frame % 128, frame // 128  # readable from any crop
    return entries, feats


def test_hard_negative_crops_hold_the_mined_peak_with_context_before_it():
    entries, feats = _split()
    bat = T.Batcher(entries, feats, np.random.default_rng(1))
    peak = 1234
    bat.hard = [(0, peak)]
    seen = 0
    for _ in range(400):
        crop = bat._neg_crop(T.CROP)
        assert crop.shape == (T.CROP, feat.N_BANDS)
        start = int(crop[0, 0]) + 128 * int(crop[0, 1])
        if start + T.CROP // 4 <= peak < start + T.CROP:
            seen += 1
    # HARD_SHARE of the crops come from around the peak; random crops rarely hold it
    assert abs(seen / 400 - T.HARD_SHARE) < 0.1


def test_without_mined_peaks_negative_crops_are_uniform():
    entries, feats = _split()
    bat = T.Batcher(entries, feats, np.random.default_rng(2))
    crops = [bat._neg_crop(T.CROP) for _ in range(300)]
    starts = [int(c[0, 0]) + 128 * int(c[0, 1]) for c in crops]
    assert len(set(starts)) > 100


def test_held_back_takes_a_tenth_of_espeak_voices_a_quarter_of_negatives_no_natural_voice():
    entries = [{"label": "pos", "voice": "espeak:en-us+v%02d" % i} for i in range(40)]
    entries += [{"label": "pos", "voice": v} for v in ("flite:awb", "pico:en-US", "pico:en-GB")]
    entries += [{"label": "neg", "voice": "mixed:3"} for _ in range(12)]
    voices, negs = T.held_back(entries)
    assert len(voices) == 4 and all(v.startswith("espeak:") for v in voices)
    assert len(negs) == 3 and all(entries[i]["label"] == "neg" for i in negs)
    assert T.held_back(list(entries)) == (voices, negs)  # the same rule for trainer and eval
