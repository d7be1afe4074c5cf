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
    train, dev = tts.split_voices(voices, 0.5)
    assert {v.name for v in train + dev if v.engine == "flite"} == {"awb", "rms"}
    with pytest.raises(Exception, match="reserved"):
        tts.synth(tts.Voice("flite", "slt", "slt"), "hello")
    with pytest.raises(Exception, match="reserved"):
        tts.synth(tts.Voice("flite", "kal16", "kal16"), "hello")


def test_pico_voices_train_and_dev_keeps_one_natural_voice():
    voices = [tts.Voice("flite", n, n) for n in ("awb", "rms")]
    voices += [tts.Voice("pico", n, n) for n in tts.PICO_VOICES]
    voices += [tts.Voice("espeak", "en-us+%s" % v, v) for v in ("m1", "f2", "klatt", "croak")]
    train, dev = tts.split_voices(voices, 0.5)
    assert {v.id for v in dev if v.engine != "espeak"} == {"flite:rms"}
    assert {v.id for v in train if v.engine != "espeak"} == {"flite:awb", "pico:en-US", "pico:en-GB"}
    # each natural voice gets about NATURAL_SHARE of the clips, in train (3) as in dev (1)
    for split, n_natural in ((train, 3), (dev, 1)):
        job = {"voices": [(v.engine, v.name, v.variant) for v in split]}
        rng = np.random.default_rng(1)
        picks = [R._voice(job, rng).engine for _ in range(4000)]
        share = sum(e != "espeak" for e in picks) / len(picks)
        assert abs(share - R.NATURAL_SHARE * n_natural) < 0.03


def test_pico_speaks_at_16khz_without_clipping():
    pytest.importorskip("ttspico")  # declared in the [data] extra, which [test] includes
    for name in tts.PICO_VOICES:
        x = tts.synth(tts.Voice("pico", name, name), "Alexa, what is the weather like tomorrow?",
                      speed=1.2, pitch=75)
        assert 1.0 < len(x) / 16000 < 5.0
        assert 0.05 < np.abs(x).max() < 0.99


def test_dev_voices_are_held_out_from_train():
    voices = [tts.Voice("espeak", "%s+%s" % (lang, v), v)
              for lang in ("en-us", "en-gb") for v in ("m%d" % i for i in range(1, 9))]
    train, dev = tts.split_voices(voices, 0.3)
    assert {v.variant for v in train}.isdisjoint({v.variant for v in dev})


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
              log=lambda m: None)
    D.build("alexa", str(tmp_path / "a"), **kw)
    D.build("alexa", str(tmp_path / "b"), **kw)
    for split in ("train", "dev"):
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
    dev_voices = {e["voice"] for e in D.load_manifest(str(tmp_path / "a" / "dev"))}
    meta = json.load(open(tmp_path / "a" / "dataset.json"))
    assert dev_voices.isdisjoint(meta["voices"]["train"])
