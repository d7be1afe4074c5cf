"""The benchmark's arithmetic on synthetic score streams: refractory, FA/h counting, the
threshold sweep, false rejects per condition, near misses and latency."""

import numpy as np
import pytest

from host_tools.wakeword import bench as B

HOP = 0.02


def stream(seconds, bumps=(), base=0.0):
    """A score stream of `seconds` with bumps (time_s, height, width_hops)."""
    s = np.full(int(round(seconds / HOP)), base)
    for t, h, w in bumps:
        i = int(round(t / HOP))
        s[i: i + w] = np.maximum(s[i: i + w], h)
    return s


def test_a_long_bump_fires_once_within_the_refractory_period():
    s = stream(10, [(1.0, 0.9, 40)])  # 0.8 s above threshold
    assert B.events(s, 0.5, refractory=50) == [50]
    assert B.events(s, 0.5, refractory=10) == [50, 61, 72, 83]


def test_events_after_the_refractory_period_count_again():
    s = stream(10, [(1.0, 0.9, 1), (1.5, 0.9, 1), (4.0, 0.9, 1)])
    assert B.events(s, 0.5, refractory=50) == [50, 200]  # 1.5 s is inside 1.0 + 1.0 s


def test_threshold_is_inclusive():
    assert B.events(np.array([0.0, 0.5, 0.0]), 0.5, 0) == [1]


def make_streams(n_pos=10, miss=3, neg_hours=2.0, fa_heights=(0.6, 0.7, 0.8), refr_s=1.0):
    pos = []
    for k in range(n_pos):
        h = 0.3 if k < miss else 0.95
        # word from 0.5 to 1.0 s; engine fires 100 ms after its end
        pos.append((stream(2.0, [(1.1, h, 3)]), 0.5, 1.0, "clean" if k % 2 else "babble_5db"))
    neg_len = neg_hours * 3600 / 4
    negs = [stream(neg_len) for _ in range(4)]
    for j, h in enumerate(fa_heights):  # one false accept per height, in different files
        negs[j][1000 + j] = h
    nms = [(stream(2.0, [(1.0, 0.75, 2)]), "clean"), (stream(2.0), "reverb")]
    return B.Streams(HOP, refr_s, pos, nms, negs)


def test_fa_per_hour_counts_on_the_negatives_only():
    st = make_streams(neg_hours=2.0)
    assert st.neg_hours == pytest.approx(2.0)
    assert st.at(0.65)["false_accepts"] == 2
    assert st.at(0.65)["fa_per_hour"] == 1.0
    assert st.at(0.9)["fa_per_hour"] == 0.0


def test_false_rejects_near_misses_and_latency_at_a_threshold():
    st = make_streams()
    r = st.at(0.5)
    assert r["frr"] == pytest.approx(0.3)
    # misses are k = 0, 1, 2: babble (0, 2) and clean (1); 5 clips of each
    # the clean + 20 dB pool is only the clean clips here
    assert r["frr_by_condition"] == {"babble_5db": 0.4, "clean": 0.2, B.EASY: 0.2}
    assert r["nearmiss_rate"] == 0.5
    assert r["nearmiss_by_condition"] == {"clean": 1.0, "reverb": 0.0}
    # score index 55 (1.1 s) covers audio up to 1.12 s: 120 ms after the word's end
    assert r["latency_median_s"] == pytest.approx(0.12)
    assert r["latency_p95_s"] == pytest.approx(0.12)


def test_sweep_picks_the_lowest_frr_within_each_budget():
    st = make_streams(neg_hours=5.0, fa_heights=(0.6, 0.7, 0.8))
    res = B.sweep(st)
    # <= 0.5 FA/h over 5 h allows 2 false accepts: any threshold above 0.6 works, FRR 30%
    assert res["0.5"]["reachable"] and res["0.5"]["frr"] == pytest.approx(0.3)
    assert res["0.5"]["false_accepts"] <= 2
    # <= 0.2 FA/h allows 1: threshold above 0.7
    assert res["0.2"]["false_accepts"] <= 1 and res["0.2"]["threshold"] > 0.7


def test_budget_that_no_threshold_reaches_is_reported_not_hidden():
    st = make_streams(neg_hours=1.0)
    for f in st.neg:
        f[::500] = 1.0  # fires every 10 s at any threshold
    res = B.sweep(st)
    assert res["0.5"]["reachable"] is False
    assert res["0.5"]["min_fa_per_hour"] > 100


def test_detection_outside_the_word_window_is_a_false_reject():
    # the only bump is before the word starts: not a detection of this word
    pos = [(stream(3.0, [(0.1, 0.9, 2)]), 1.0, 1.5, "clean")]
    st = B.Streams(HOP, 1.0, pos, [], [stream(3600)])
    assert st.at(0.5)["frr"] == 1.0


def test_markdown_lists_engines_that_could_not_run():
    res = [{"engine": "porcupine", "label": "Porcupine 1.9.5", "word": "alexa",
            "status": "not run", "reason": "venv missing", "note": ""}]
    md = B.markdown(res, "")
    assert "not run: venv missing" in md


def test_anchor_cache_key_follows_file_bytes_not_times(tmp_path):
    import os
    import types
    eng = types.SimpleNamespace(name="porcupine", version="1.9.5", model=lambda word: word)
    paths = []
    for i in range(3):
        p = tmp_path / ("%d.wav" % i)
        p.write_bytes(b"RIFF" + bytes([i]) * 100)
        paths.append(str(p))
    entries = [{"path": p} for p in paths]
    key = B._cache_key(eng, "alexa", entries)
    os.utime(paths[1], (1, 1))  # rewritten with the same bytes: a deterministic rebuild
    (tmp_path / "1.wav").write_bytes(b"RIFF" + bytes([1]) * 100)
    assert B._cache_key(eng, "alexa", entries) == key
    (tmp_path / "2.wav").write_bytes(b"RIFF" + bytes([9]) * 100)
    assert B._cache_key(eng, "alexa", entries) != key


def test_false_rejects_per_held_out_speaker_pool_espeak_and_split_easy_audio():
    pos = []
    for k, (voice, cond, h) in enumerate([("flite:rms", "clean", 0.3), ("flite:rms", "clean", 0.9),
                                          ("flite:rms", "babble_5db", 0.3),
                                          ("espeak:en-us+m1", "clean", 0.9),
                                          ("espeak:en-gb+f2", "line", 0.3)]):
        pos.append((stream(2.0, [(1.1, h, 3)]), 0.5, 1.0, cond, voice))
    st = B.Streams(HOP, 1.0, pos, [], [stream(3600)])
    r = st.at(0.5)["frr_by_speaker"]
    assert r["flite:rms"] == {"clips": 3, "frr": round(2 / 3, 4), "frr_easy": 0.5}
    assert r["espeak (pooled)"] == {"clips": 2, "frr": 0.5, "frr_easy": 0.5}


def _seed_result(label, frr, easy, nm, spk):
    at = {"reachable": True, "frr": frr, "frr_by_condition": {B.EASY: easy}, "nearmiss_rate": nm,
          "frr_by_speaker": {k: {"clips": 10, "frr": v[1], "frr_easy": v[0]} for k, v in spk.items()},
          "latency_median_s": 0.1, "latency_p95_s": 0.2}
    return {"engine": "earshot-seed", "label": label, "word": "alexa", "status": "ok", "note": "",
            "positives": 20, "nearmisses": 5, "neg_hours": 1.0, "at_budget": {"0.5": at, "0.2": at}}


def test_the_report_gives_the_spread_over_seeds_not_the_best_seed():
    # dectalk:frank has no clean or 20 dB clip (frr_easy None): "-" there, not "nan +- nan%"
    rs = [_seed_result("s1", 0.10, 0.02, 0.05, {"kokoro:af_sarah": (0.0, 0.1),
                                                 "dectalk:frank": (None, 0.0)}),
          _seed_result("s2", 0.30, 0.06, 0.15, {"kokoro:af_sarah": (0.1, 0.3),
                                                 "dectalk:frank": (None, 0.2)})]
    md = B.markdown(rs, "")
    assert "Spread over 2 Earshot seeds" in md
    assert "| all positives | 4.0 +- 2.8% (2.0-6.0) | 20.0 +- 14.1% (10.0-30.0) |" in md
    assert "| kokoro:af_sarah | 5.0 +- 7.1% (0.0-10.0) | 20.0 +- 14.1% (10.0-30.0) |" in md
    assert "| dectalk:frank | - | 10.0 +- 14.1% (0.0-20.0) |" in md and "nan" not in md
    assert "Spread over" not in B.markdown(rs[:1], "")  # one seed has no spread to report
