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


def test_leaving_a_speaker_out_drops_every_blend_made_with_it_and_keeps_negatives():
    entries = [{"label": "pos", "voice": v} for v in
               ("flite:awb", "kokoro:jm_kumo", "kokoro:jf_alpha*0.3+jm_kumo*0.7", "piper:joe",
                "espeak:en-us+m1")]
    entries.append({"label": "neg", "voice": "mixed:12"})
    keep = T.without_speakers(entries, ["kokoro:jm_kumo"])
    assert [entries[i]["voice"] for i in keep] == ["flite:awb", "piper:joe", "espeak:en-us+m1",
                                                   "mixed:12"]
    assert T.speaker_of("kokoro:jf_alpha*0.3+jm_kumo*0.7") == {"kokoro:jf_alpha", "kokoro:jm_kumo"}
    assert len(T.without_speakers(entries, [])) == len(entries)


def test_feature_augmentation_tilts_and_warps_but_keeps_silence_silent():
    X = np.full((200, T.CROP, feat.N_BANDS), 60, np.uint8)
    X[:, :10, :] = 0  # digital silence stays 0: the frontend's floor, not a level
    T.augment(X, np.random.default_rng(0))
    assert (X[:, :10, :] == 0).all()
    body = X[:, 20:, :].astype(int)
    slopes = body[:, :, -1].mean(axis=1) - body[:, :, 0].mean(axis=1)
    assert slopes.max() > 8 and slopes.min() < -8  # tilted both ways (masks aside)


def _split_dir(tmp_path, voices):
    import json
    import shutil
    from pathlib import Path
    fx = Path(__file__).parent / "fixtures" / "dataset" / "dev"
    fixture = {json.loads(l)["label"]: json.loads(l) for l in (fx / "manifest.jsonl").open()}
    lines = []
    for i, v in enumerate(voices):
        e = dict(fixture["pos"], voice=v, file="pos/%d.wav" % i)
        (tmp_path / "pos").mkdir(exist_ok=True)
        shutil.copy(fx / fixture["pos"]["file"], tmp_path / e["file"])
        lines.append(e)
    (tmp_path / "neg").mkdir(exist_ok=True)
    shutil.copy(fx / fixture["neg"]["file"], tmp_path / "neg" / "n.wav")
    lines.append(dict(fixture["neg"], file="neg/n.wav"))
    (tmp_path / "manifest.jsonl").write_text("".join(json.dumps(e) + "\n" for e in lines))
    return tmp_path


def test_eval_reports_false_rejects_per_speaker_with_espeak_pooled(tmp_path):
    from host_tools.wakeword import model as M
    from host_tools.wakeword import score as S
    split = _split_dir(tmp_path, ["flite:rms", "kokoro:jm_kumo*0.5+jf_alpha*0.5",
                                  "espeak:en-us+m1", "espeak:en-gb+f2"])
    qm = M.random_model(seed=3, channels=16)
    man = {"smooth": 5, "threshold": 700, "refractory": 10, "score_max": 1270, "hop_s": 0.02}
    res = S.evaluate(qm, man, split, budgets=(100000.0,), log=lambda m: None)
    per = res["at"]["shipped"]["per_speaker"]
    assert sorted(per) == ["espeak (pooled)", "flite:rms", "kokoro:jm_kumo*0.5+jf_alpha*0.5"]
    assert per["espeak (pooled)"]["clips"] == 2 and per["flite:rms"]["easy_clips"] == 1
    only = S.evaluate(qm, man, split, budgets=(100000.0,), log=lambda m: None,
                      speakers=["kokoro:jf_alpha"])
    assert only["positives"] == 1  # the blend involves the speaker; nothing else does


def test_eval_of_an_unknown_split_is_a_one_line_error(capsys):
    from host_tools.cli import main
    assert main(["wakeword", "eval", "--model", "alexa", "--split", "held-back"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("earshot: unknown split") and err.count("\n") == 1


def test_train_help_and_the_make_target_agree_on_the_step_count(capsys):
    import re
    from pathlib import Path

    import pytest

    from host_tools.cli import main
    mk = (Path(__file__).resolve().parent.parent / "mk" / "wakeword-train.mk").read_text()
    steps = int(re.search(r"^STEPS \?= (\d+)", mk, re.M).group(1))
    with pytest.raises(SystemExit):
        main(["wakeword", "train", "--help"])
    helptext = " ".join(capsys.readouterr().out.split())
    assert "training steps (default: %d, as make train-wakeword)" % steps in helptext
    assert "train-wakeword WORD=\"alexa\" [STEPS=%d]" % steps in mk


def test_training_progress_goes_to_stdout(monkeypatch, capsys):
    from host_tools.cli import main
    seen = {}

    def fake_train(word, data, out, steps, seed=0, log=print, exclude_speakers=(),
                   max_near_miss=None, band_share=None, band_per=None):
        seen["steps"], seen["band_share"], seen["band_per"] = steps, band_share, band_per
        log("step 0/%d loss 0.7" % steps)
    monkeypatch.setattr(T, "train", fake_train)
    assert main(["wakeword", "train", "hey computer"]) == 0
    out = capsys.readouterr()
    assert out.out == "step 0/3000 loss 0.7\n" and out.err == "" and seen["steps"] == 3000
    assert seen["band_share"] == T.BAND_SHARE  # the command trains as the module does
    assert main(["wakeword", "train", "hey computer", "--band-share", "0"]) == 0
    assert seen["band_share"] == 0.0  # copies off: the recipe of the models before session 9
    assert seen["band_per"] == "draw"  # the shipped models' choice, unless asked
    assert main(["wakeword", "train", "hey computer", "--band-per", "sequence"]) == 0
    assert seen["band_per"] == "sequence"


def test_positives_are_drawn_by_their_engine_s_weight():
    # One voice with many renders (Piper joe: 43 % of the train positives) need not stand
    # for the word: --pos-weights piper=0.3 draws its clips less often, in proportion.
    entries = [{"label": "pos", "word_end_s": 1.0, "voice": "piper:joe"} for _ in range(30)]
    entries += [{"label": "pos", "word_end_s": 1.0, "voice": "espeak:en-us"} for _ in range(10)]
    entries.append({"label": "neg", "voice": "mixed:1"})
    feats = [np.full((80, feat.N_BANDS), 0 if e["voice"].startswith("piper") else 100, np.uint8)
             for e in entries[:-1]] + [np.zeros((3000, feat.N_BANDS), np.uint8)]

    def espeak_share(weights):
        bat = T.Batcher(entries, feats, np.random.default_rng(3), weights)
        drawn = []
        for _ in range(20):
            X, Y, _ = bat.batch(64, frac_pos=1.0, frac_nm=0.0)
            drawn += [int(x.max()) for x in X]
        return sum(1 for d in drawn if d >= 50) / len(drawn)  # augmentation moves +-20 at most

    assert abs(espeak_share(None) - 0.25) < 0.06  # 10 of 40 clips
    assert abs(espeak_share({"piper": 1 / 3}) - 0.5) < 0.06  # 10 against 30/3
    assert espeak_share({"espeak": 0}) == 0.0


def test_the_lowpass_removes_the_top_band_and_keeps_the_rest_in_place():
    from host_tools.wakeword import augment as A
    t = np.arange(16000) / 16000.0
    low, high = np.sin(2 * np.pi * 1000 * t), np.sin(2 * np.pi * 6000 * t)
    y = A.lowpass((low + high).astype(np.float32), 4000.0)
    assert len(y) == len(t)
    assert np.abs(y - low).max() < 1e-3  # 1 kHz untouched, in phase; 6 kHz gone
    assert np.allclose(A.lowpass(low.astype(np.float32), 8000.0), low, atol=1e-6)


def test_a_band_limited_copy_is_the_same_on_every_run_and_has_no_top_band():
    rng = np.random.default_rng(5)
    pcm = (rng.standard_normal(16000) * 3000).astype(np.int16)
    a, b = T.band_limited(pcm, "pos/00001.wav"), T.band_limited(pcm, "pos/00001.wav")
    assert a.dtype == np.int16 and len(a) == len(pcm) and (a == b).all()
    assert not (T.band_limited(pcm, "pos/00002.wav") == a).all()  # another clip, another cut

    def cutoff(key):  # the highest 50 Hz band still holding the signal's power
        p = np.abs(np.fft.rfft(T.band_limited(pcm, key).astype(np.float64))) ** 2
        bands = p[:8000].reshape(160, 50).mean(axis=1)
        return 50 * int(np.nonzero(bands > 0.01 * bands[:40].mean())[0].max())
    cuts = [cutoff("pos/%05d.wav" % i) for i in range(12)]
    assert min(cuts) >= T.BAND_HZ[0] - 300 and max(cuts) <= T.BAND_HZ[1]
    assert max(cuts) - min(cuts) > 1500  # drawn per clip across the range, not one cutoff
    tables = feat.build_tables()
    full, cut = feat.features(pcm, tables), feat.features(a, tables)
    # the top mel bands (above 7 kHz, beyond every cutoff) fall to the floor; the lowest stay
    assert (full[:, -2:].mean() - cut[:, -2:].mean()) > 40
    assert abs(int(full[:, :4].mean()) - int(cut[:, :4].mean())) <= 2


def test_band_share_draws_the_band_limited_copy_for_positives_and_negatives_alike():
    entries, feats = _split()
    band = [np.full_like(f, 127) for f in feats]  # readable: a copy is all 127 before augment
    for share, want in ((0.0, 0.0), (0.5, 0.5), (1.0, 1.0)):
        bat = T.Batcher(entries, feats, np.random.default_rng(4), None, band, share)
        pos, neg = [], []
        for _ in range(400):
            pos.append(int(bat._clip(*bat.pos[0])[0][-1, 5] == 127))
            neg.append(int(bat._neg_crop(T.CROP)[0, 5] == 127))
        assert abs(np.mean(pos) - want) < 0.08 and abs(np.mean(neg) - want) < 0.08


def test_band_per_sequence_cuts_the_context_and_the_clip_after_it_alike():
    """--band-per sequence: one choice for the whole sequence, so no sequence changes band where
    the clip starts; "draw" (the shipped models') does, about 3 times in 10 at share 0.3."""
    import pytest

    from host_tools.errors import EarshotError
    entries, feats = _split()
    band = [np.full_like(f, 127) for f in feats]
    for per in ("sequence", "draw"):
        bat = T.Batcher(entries, feats, np.random.default_rng(5), None, band, 0.3, per)
        changed = clip_band = 0
        for _ in range(600):
            x = bat._clip(*bat.pos[0])[0]
            ctx, clip = x[0, 5] == 127, x[-1, 5] == 127
            ctx_is_silence = not x[0].any()  # 3 in 10 sequences have no context
            changed += int(ctx != clip and not ctx_is_silence)
            clip_band += int(clip)
        assert abs(clip_band / 600 - 0.3) < 0.06, per  # the share is the same either way
        if per == "sequence":
            assert changed == 0
        else:
            assert 0.2 < changed / 600 < 0.4
    with pytest.raises(EarshotError, match="band_per"):
        T.Batcher(entries, feats, np.random.default_rng(5), None, band, 0.3, "clip")


def test_eval_lowpass_scores_every_clip_band_limited(tmp_path, capsys, monkeypatch):
    import json
    import shutil
    from pathlib import Path

    import pytest

    from host_tools.cli import main
    root = tmp_path / "alexa"
    shutil.copytree(Path(__file__).parent / "fixtures" / "dataset" / "dev", root / "dev")
    full = T.split_features(root / "dev", cache_dir=str(tmp_path / "c"), log=lambda m: None)[1]
    cut = T.split_features(root / "dev", cache_dir=str(tmp_path / "c"), log=lambda m: None,
                           band=3800.0)[1]
    # bands above 3.8 kHz (the top 9 of 32) fall to the floor in every clip, negatives too
    assert all(c[:, -8:].mean() + 5 < f[:, -8:].mean() for f, c in zip(full, cut))
    other = T.split_features(root / "dev", cache_dir=str(tmp_path / "c"), log=lambda m: None,
                             band=5300.0)[1]
    assert any((o != c).any() for o, c in zip(other, cut))  # each cutoff is cached apart
    runs, bands, real = {}, [], T.split_features
    monkeypatch.setattr(T, "split_features", lambda *a, **k: bands.append(k.get("band")) or
                        real(*a, cache_dir=str(tmp_path / "c"), **k))
    for extra in ([], ["--lowpass", "3800"]):
        assert main(["wakeword", "eval", "--model", "alexa", "--split", "dev",
                     "--data", str(root)] + extra) == 0
        runs[tuple(extra)] = json.loads(capsys.readouterr().out)
    assert runs[()]["lowpass_hz"] is None and runs[("--lowpass", "3800")]["lowpass_hz"] == 3800
    assert bands == [False, 3800.0]  # the clips scored are the band-limited ones
    assert main(["wakeword", "eval", "--model", "alexa", "--split", "dev", "--data", str(root),
                 "--neg-split", "dev", "--lowpass", "3800"]) == 0
    assert bands[2:] == [3800.0, 3800.0]  # the negatives of another split too
    with pytest.raises(SystemExit) as bad:
        main(["wakeword", "eval", "--model", "alexa", "--lowpass", "9000"])
    assert bad.value.code == 2 and "at most 7999" in capsys.readouterr().err


def test_a_distilled_target_mixes_the_label_with_the_teachers_mean_probability():
    torch = __import__("pytest").importorskip("torch")  # the [train] extra
    Y = torch.tensor([[0.0, 1.0, 0.0]])
    a, b = torch.tensor([[0.0, 3.0, -4.0]]), torch.tensor([[0.0, 1.0, 4.0]])
    got = T.distilled_targets([lambda X: a, lambda X: b], None, Y, 0.25)
    # The ensemble is the mean of the teachers' probabilities, not the sigmoid of their mean
    # logit (0.842 against 0.881 for the middle frame); a quarter of each target is theirs.
    p = (torch.sigmoid(a) + torch.sigmoid(b)) / 2
    assert torch.allclose(got, 0.75 * Y + 0.25 * p)
    assert not torch.allclose(got, 0.75 * Y + 0.25 * torch.sigmoid((a + b) / 2))
    assert torch.equal(T.distilled_targets([lambda X: a], None, Y, 0.0), Y)


def test_frame_loss_weighs_the_words_frames_by_the_hard_labels_not_the_soft_targets():
    torch = __import__("pytest").importorskip("torch")
    logits = torch.tensor([[0.3, -0.2, 1.0]])
    w = torch.ones(1, 3)
    soft, hard = torch.tensor([[0.5, 0.5, 0.9]]), torch.tensor([[0.0, 0.0, 1.0]])
    bce = torch.nn.functional.binary_cross_entropy_with_logits(logits, soft, reduction="none")
    want = (bce * torch.tensor([[1.0, 1.0, 5.0]])).sum() / 7.0
    assert torch.allclose(T.frame_loss(logits, soft, w, weight_by=hard), want)
    assert not torch.allclose(T.frame_loss(logits, soft, w), want)


def test_a_teacher_is_a_trained_net_of_any_width_frozen_as_the_board_runs_it(tmp_path):
    pytest = __import__("pytest")
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    net = T.build_net(8)
    net.eval()
    net.fold_bn()
    net.quant = True
    torch.save(net.state_dict(), tmp_path / "n.pt")
    X = torch.rand(2, 40, feat.N_BANDS) * 100
    teacher = T.load_teacher(tmp_path / "n.pt")  # 8 channels, read from the file
    assert not teacher.training and teacher.quant and not teacher.use_bn
    assert not any(p.requires_grad for p in teacher.parameters())
    with torch.no_grad():
        assert torch.equal(teacher(X), net(X))
    got = T.distilled_targets([teacher], X, torch.zeros(2, 40), 0.5)
    assert not got.requires_grad  # the teachers add nothing to the student's graph
    (tmp_path / "bad.pt").write_bytes(b"not a state")
    torch.save({"something": torch.zeros(3)}, tmp_path / "other.pt")
    for bad in ("bad.pt", "missing.pt", "other.pt"):
        with pytest.raises(T.EarshotError, match="not a teacher"):
            T.load_teacher(tmp_path / bad)


def test_teachers_do_not_move_the_students_initial_weights(tmp_path, monkeypatch):
    torch = __import__("pytest").importorskip("torch")
    real, students = T.build_net, []

    class Stop(Exception):
        pass

    def student_then_stop(*a, **k):
        students.append(real(*a, **k))
        raise Stop
    monkeypatch.setattr(T, "split_features", lambda *a, **k: ([], []))
    monkeypatch.setattr(T, "Batcher", lambda *a, **k: None)
    monkeypatch.setattr(T, "build_net", student_then_stop)
    # Loading a teacher builds a net: it draws from torch's generator, as this stand-in does.
    monkeypatch.setattr(T, "load_teacher", lambda path: torch.rand(1000))
    for teachers in ((), ("t.pt",), ("t.pt", "u.pt")):
        try:
            T.train("alexa", data_root=tmp_path, out_dir=tmp_path, name="s", seed=3,
                    teachers=teachers, band_share=0)
        except Stop:
            pass
    first = students[0].state_dict()
    for other in students[1:]:
        assert all(torch.equal(first[k], v) for k, v in other.state_dict().items())


def test_a_run_cannot_be_taught_by_the_net_it_is_about_to_overwrite(tmp_path, monkeypatch,
                                                                    capsys):
    pytest = __import__("pytest")
    pytest.importorskip("torch")
    monkeypatch.chdir(tmp_path)
    for argv in (["--word", "alexa", "--teacher", ".cache/ww/alexa.pt"],
                 ["--word", "alexa", "--name", "mine", "--teacher", "./.cache/ww/mine.pt"]):
        assert T.main(argv) == 1
        err = capsys.readouterr().err
        assert "is where this run saves its own net" in err and err.count("\n") == 1, err
    with pytest.raises(SystemExit):  # --distill alone: argparse's one line, exit 2
        T.main(["--word", "alexa", "--distill", "0.3"])
    assert "--distill needs --teacher" in capsys.readouterr().err


def test_a_bad_teacher_is_one_line_before_any_training(tmp_path, capsys):
    __import__("pytest").importorskip("torch")
    assert T.main(["--word", "alexa", "--data", str(tmp_path), "--teacher",
                   str(tmp_path / "gone.pt")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("train: ") and "not a teacher" in err and err.count("\n") == 1
