"""Rendering one dataset item: a positive or near-miss clip, or a long negative file.

Each function receives a job dict (everything random is drawn from the job's own seed) and the
split's babble pool, writes one WAV and returns its manifest entry. Jobs are independent, so
the dataset is the same whatever the number of workers or the order they finish in.
"""

import os
import wave

import numpy as np

from . import augment as A
from . import dataset_text as T
from . import dataset_tts as tts
from . import screen

RATE = 16000
NOISE_FLOOR_DBFS = -70.0  # microphone self-noise under every clip; nothing is digital silence
DEV_CONDITIONS = ("clean", "white_20db", "white_10db", "white_5db", "pink_20db", "pink_10db",
                  "pink_5db", "babble_20db", "babble_10db", "babble_5db", "reverb", "tempo",
                  "pitch", "quiet", "line", "carrier", "tilt")
# line: clean line-level audio with no noise floor (digital silence around the word);
# carrier: the word inside a request ("Okay, alexa, turn on the lights."); tilt: a microphone's
# colouring (+-4-6 dB per octave around 1 kHz)
LEVEL_RANGE = (-28.0, -12.0)  # dBFS of the word, every condition but "quiet"
QUIET_RANGE = (-32.0, -28.0)


def rng_for(job):
    return np.random.default_rng([job["seed"], job["split_id"], job["kind_id"], job["index"]])


def write_wav(path, x):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with wave.open(path, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(RATE)
        w.writeframes(A.to_int16(x).tobytes())


NATURAL_SHARE = 0.6  # of clips spoken by a natural/neural speaker (flite, Pico, Piper, Kokoro):
                     # uniform picking among ~650 espeak voices would drown them
# engine weights among the natural/neural speakers: for long negatives Kokoro (about real time
# on one core) speaks a small share, and never in the babble pool
ENGINE_WEIGHT = {"clip": {}, "long": {"kokoro": 0.2}, "babble": {"kokoro": 0.0}}
# A positive the recogniser does not hear (screen.py) is drawn again (voice, text, speed), at
# most this many times in all; the voices of the dropped renders go in the entry's "dropped".
SCREEN_ATTEMPTS = 6
HELD_OUT_NATURAL_SHARE = 0.8  # held and dev clips: ten natural/neural speakers, one pool of espeak
PERTURB_SHARE = 0.5  # train: natural/neural speech re-voiced by WORLD (a new speaker)


def _voice(job, rng, use="clip"):
    """A voice of the job's split: a natural/neural speaker with NATURAL_SHARE (engine first,
    uniformly, so one engine's many blends do not outweigh a single recorded speaker), else an
    espeak voice."""
    vs = job["voices"]
    weights = ENGINE_WEIGHT[use]
    engines = sorted({v[0] for v in vs if v[0] in tts.NATURAL_ENGINES and weights.get(v[0], 1.0) > 0})
    if use == "clip" and job.get("split_name", "train") != "train":
        # held and dev clips measure each held-out speaker: every natural/neural speaker gets
        # the same share (espeak, pooled in the reports, the rest)
        natural = [v for v in vs if v[0] in tts.NATURAL_ENGINES]
        if natural and rng.random() < HELD_OUT_NATURAL_SHARE:
            return tts.Voice(*natural[int(rng.integers(len(natural)))])
        vs = [v for v in vs if v[0] not in tts.NATURAL_ENGINES] or vs
        return tts.Voice(*vs[int(rng.integers(len(vs)))])
    if engines and rng.random() < NATURAL_SHARE:
        w = np.array([weights.get(e, 1.0) for e in engines])
        e = engines[int(rng.choice(len(engines), p=w / w.sum()))]
        vs = [v for v in vs if v[0] == e]
    else:
        vs = [v for v in vs if v[0] not in tts.NATURAL_ENGINES] or vs
    return tts.Voice(*vs[int(rng.integers(len(vs)))])


def _perturbation(job, voice, rng):
    """(vtl, f0_scale) for a train speaker re-voiced by WORLD, or None."""
    if job.get("split_name", "train") != "train" or voice.engine not in tts.NATURAL_ENGINES:
        return None
    if not job.get("perturb", True) or rng.random() >= PERTURB_SHARE:
        return None
    return float(rng.uniform(0.92, 1.15)), float(np.exp(rng.uniform(np.log(0.75), np.log(1.4))))


def _speak(voice, text, speed, pitch, perturb):
    x = A.trim(tts.synth(voice, text, speed=speed, pitch=pitch))
    return A.world_perturb(x, *perturb) if perturb else x


def _synth_word(voice, text, rng, perturb=None):
    speed = float(rng.uniform(0.8, 1.25))
    pitch = int(rng.integers(25, 76))
    return _speak(voice, text, speed, pitch, perturb), speed, pitch


def _carrier(voice, rng, speed, pitch, perturb):
    """Same-voice speech before and after the word: (before, after) float32 arrays."""
    pre = T.CARRIER_BEFORE[int(rng.integers(len(T.CARRIER_BEFORE)))]
    post = T.CARRIER_AFTER[int(rng.integers(len(T.CARRIER_AFTER)))]
    gap1 = np.zeros(int(RATE * rng.uniform(0.05, 0.3)), np.float32)
    gap2 = np.zeros(int(RATE * rng.uniform(0.1, 0.4)), np.float32)
    before = _speak(voice, pre, speed, pitch, perturb) if rng.random() < 0.7 else np.zeros(0, np.float32)
    after = _speak(voice, post, speed, pitch, perturb)
    return (np.concatenate([before, gap1]) if len(before) else before,
            np.concatenate([gap2, after]), pre if len(before) else "", post)


def train_condition(rng):
    """Training clips combine augmentations independently; the label lists what was applied."""
    cond = {}
    if rng.random() < 0.3:
        cond["tempo"] = float(rng.choice([-1, 1]) * rng.uniform(0.03, 0.15))
    if rng.random() < 0.3:
        cond["semitones"] = float(rng.choice([-1, 1]) * rng.uniform(0.5, 2.0))
    if rng.random() < 0.3:
        cond["reverb"] = True
    if rng.random() < 0.6:
        cond["noise"] = str(rng.choice(["white", "pink", "babble", "babble", "brown", "hum"]))
        cond["snr_db"] = float(rng.uniform(5.0, 20.0))
    cond["level_dbfs"] = float(rng.uniform(-32.0, -12.0))
    if rng.random() < 0.35:
        cond["carrier"] = True
    if rng.random() < 0.4:
        cond["tilt_db"] = float(rng.uniform(-6.0, 6.0))
    if "noise" not in cond and rng.random() < 0.4:
        cond["line"] = True  # no noise floor: digital silence is in distribution too
    parts = [name for key, name in (("tempo", "tempo"), ("semitones", "pitch"), ("reverb", "reverb"))
             if key in cond]
    if "noise" in cond:
        parts.append("%s_%ddb" % (cond["noise"], int(round(cond["snr_db"] / 5.0) * 5)))
    if cond["level_dbfs"] < QUIET_RANGE[1]:
        parts.append("quiet")
    parts += [k for k in ("carrier", "line") if k in cond] + (["tilt"] if "tilt_db" in cond else [])
    cond["name"] = "+".join(parts) or "clean"
    return cond


def dev_condition(name, rng):
    """One factor at a time, so the benchmark can report each condition on its own."""
    cond = {"name": name, "level_dbfs": float(rng.uniform(*LEVEL_RANGE))}
    if name == "quiet":
        cond["level_dbfs"] = float(rng.uniform(*QUIET_RANGE))
    elif name == "tempo":
        cond["tempo"] = float(rng.choice([-1, 1]) * rng.uniform(0.10, 0.15))
    elif name == "pitch":
        cond["semitones"] = float(rng.choice([-1, 1]) * rng.uniform(1.5, 2.0))
    elif name == "reverb":
        cond["reverb"] = True
    elif name == "line":
        cond["line"] = True
    elif name == "carrier":
        cond["carrier"] = True
    elif name == "tilt":
        cond["tilt_db"] = float(rng.choice([-1, 1]) * rng.uniform(4.0, 6.0))
    elif name != "clean":
        kind, snr = name.split("_")
        cond["noise"], cond["snr_db"] = kind, float(snr[:-2])
    return cond


def render_clip(job, pool):
    """A positive or near-miss clip, 1.5-2.5 s, the phrase after 0.2 s or more of lead-in."""
    rng = rng_for(job)
    dropped, heard_text = [], None
    for _ in range(SCREEN_ATTEMPTS):
        voice = _voice(job, rng)
        texts = job["texts"]
        text = texts[int(rng.integers(len(texts)))]
        perturb = _perturbation(job, voice, rng)
        word, speed, pitch = _synth_word(voice, text, rng, perturb)
        if job["label"] != "pos" or not job.get("screen"):
            break
        ok, heard_text = screen.heard(word, job["word"])
        if ok:
            break
        dropped.append(voice.id)  # the recogniser did not hear the word: draw again
    else:
        return {"skipped": True, "label": job["label"], "dropped": dropped}
    cond = dev_condition(job["condition"], rng) if job["condition"] else train_condition(rng)
    before = after = np.zeros(0, np.float32)
    if cond.get("carrier"):
        before, after, pre, post = _carrier(voice, rng, speed, pitch, perturb)
        text = " ".join(t for t in (pre, text, post) if t)
    # seg = [carrier before | phrase | carrier after]; the phrase spans seg[n_before:n_end]
    n_before, n_end = len(before), len(before) + len(word)
    seg = np.concatenate([before, word, after])
    if "tempo" in cond:
        r = 1.0 + cond["tempo"]
        seg = A.time_stretch(seg, r)
        n_before, n_end = int(round(n_before / r)), min(len(seg), int(round(n_end / r)))
    if "semitones" in cond:
        seg = A.pitch_shift(seg, cond["semitones"])
    n_after = len(seg) - n_end
    tail = max(int(RATE * rng.uniform(0.5, 0.9)), n_after)  # room after the word for latency
    lead = int(RATE * rng.uniform(0.2, 0.6))
    n = max(int(RATE * rng.uniform(1.5, 2.5)), lead + n_end + tail)
    lead = max(lead, n - n_end - tail - int(RATE * rng.uniform(0.0, 0.3)))
    lead = min(lead, n - n_end - max(n_after, int(0.5 * RATE)))
    x = np.zeros(n, np.float32)
    x[lead: lead + len(seg)] = seg
    span = slice(lead + n_before, lead + n_end)  # the phrase alone sets level and SNR
    rt60 = None
    if cond.get("reverb"):
        h, rt60 = A.room_impulse(rng)
        x = A.convolve(x, h)
    if "tilt_db" in cond:
        x = A.spectral_tilt(x, cond["tilt_db"])
    x = A.set_level(x, cond["level_dbfs"], ref=x[span])
    if "noise" in cond:
        noise = A.make_noise(cond["noise"], n, rng, pool)
        x = A.add_noise(x, noise, cond["snr_db"], ref=x[span])
    # Loud TTS with a high crest factor would clip: turn the whole mix down instead (the SNR
    # stays, the level recorded is the one achieved).
    x, gain_db = A.limit_peak(x)
    cond["level_dbfs"] += gain_db
    floor = A.white_noise(n, rng) * 10.0 ** (NOISE_FLOOR_DBFS / 20.0)
    if not cond.get("line"):
        x = x + floor
    rel = "%s/%05d.wav" % (job["label"], job["index"])
    write_wav(os.path.join(job["split_dir"], rel), x)
    entry = {"file": rel, "label": job["label"], "voice": voice.id, "condition": cond["name"],
             "duration_s": round(n / RATE, 4), "text": text,
             "level_dbfs": round(cond["level_dbfs"], 2), "speed": round(speed, 3), "pitch": pitch}
    spoken = tts.respell(voice, text)
    if spoken != text:
        entry["spoken"] = spoken  # what the engine was given (dataset_tts.RESPELL)
    if heard_text is not None:
        entry["heard"] = heard_text  # what the recogniser understood
    if dropped:
        entry["dropped"] = dropped
    if job["label"] == "pos":
        entry["word_start_s"] = round((lead + n_before) / RATE, 4)
        entry["word_end_s"] = round((lead + n_end) / RATE, 4)
    for k in ("tempo", "semitones", "snr_db", "tilt_db"):
        if k in cond:
            entry[k] = round(cond[k], 3)
    if perturb:
        entry["vtl"], entry["f0_scale"] = round(perturb[0], 3), round(perturb[1], 3)
    if rt60:
        entry["rt60_s"] = round(rt60, 3)
    return entry


def render_long(job, pool):
    """A 5-10 minute negative file: paragraphs from many voices, pauses, noise-only stretches,
    some of it reverberant, over a background that changes from file to file."""
    rng = rng_for(job)
    target = int(RATE * job["seconds"])
    parts, total, voices_used = [], 0, set()
    while total < target:
        r = rng.random()
        if r < 0.75:
            voice = _voice(job, rng, "long")
            voices_used.add(voice.id)
            # Kokoro runs at about real time on one core: one sentence at a time
            k = 1 if voice.engine == "kokoro" else int(rng.integers(2, 9))
            text = T.paragraph(rng, job["word"], k)
            x = _speak(voice, text, float(rng.uniform(0.8, 1.25)), int(rng.integers(25, 76)),
                       _perturbation(job, voice, rng))
            if rng.random() < 0.3:
                h, _ = A.room_impulse(rng)
                x = A.convolve(np.concatenate([x, np.zeros(len(h), np.float32)]), h)
            x, _ = A.limit_peak(A.set_level(x, float(rng.uniform(-34.0, -12.0))))
        elif r < 0.9:
            kind = str(rng.choice(["white", "pink", "brown", "hum", "babble"]))
            x = A.make_noise(kind, int(RATE * rng.uniform(5.0, 30.0)), rng, pool)
            x = A.set_level(x, float(rng.uniform(-50.0, -25.0)))
        else:
            x = np.zeros(int(RATE * rng.uniform(1.0, 5.0)), np.float32)
        parts.append(x)
        parts.append(np.zeros(int(RATE * rng.uniform(0.2, 2.0)), np.float32))
        total += len(x) + len(parts[-1])
    x = np.concatenate(parts)[:target]
    bg_kind = str(rng.choice(["white", "pink", "brown", "hum", "babble"]))
    bg = A.make_noise(bg_kind, target, rng, pool)
    bg = A.set_level(bg, float(rng.uniform(-65.0, -40.0)))
    floor = A.white_noise(target, rng) * 10.0 ** (NOISE_FLOOR_DBFS / 20.0)
    if rng.random() < 0.2:  # line-level audio: no background, digital silence between words
        bg, floor = 0.0, 0.0
    x, _ = A.limit_peak(x + bg)
    x = x + floor
    rel = "neg/long_%03d.wav" % job["index"]
    write_wav(os.path.join(job["split_dir"], rel), x)
    return {"file": rel, "label": "neg", "voice": "mixed:%d" % len(voices_used),
            "condition": "longform+%s_bg" % bg_kind, "duration_s": round(target / RATE, 3)}


def render_babble_part(job, _pool=None):
    """A stretch of speech from one voice, for the split's babble pool (returns samples)."""
    rng = rng_for(job)
    voice = _voice(job, rng, "babble")
    text = T.paragraph(rng, job["word"], 4)
    x = A.trim(tts.synth(voice, text, speed=float(rng.uniform(0.9, 1.2)),
                         pitch=int(rng.integers(30, 70))))
    return A.set_level(x, -20.0)
