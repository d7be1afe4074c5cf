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

RATE = 16000
NOISE_FLOOR_DBFS = -70.0  # microphone self-noise under every clip; nothing is digital silence
DEV_CONDITIONS = ("clean", "white_20db", "white_10db", "white_5db", "pink_20db", "pink_10db",
                  "pink_5db", "babble_20db", "babble_10db", "babble_5db", "reverb", "tempo",
                  "pitch", "quiet")
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


NATURAL_SHARE = 0.12  # per natural voice (flite, Pico): each is a whole speaker, and uniform
                      # picking among ~650 espeak voices would drown them


def _voice(job, rng):
    vs = job["voices"]
    natural = [v for v in vs if v[0] in tts.NATURAL_ENGINES]
    if natural and rng.random() < NATURAL_SHARE * len(natural):
        vs = natural
    else:
        vs = [v for v in vs if v[0] not in tts.NATURAL_ENGINES] or vs
    return tts.Voice(*vs[int(rng.integers(len(vs)))])


def _synth_word(voice, text, rng):
    speed = float(rng.uniform(0.8, 1.25))
    pitch = int(rng.integers(25, 76))
    x = tts.synth(voice, text, speed=speed, pitch=pitch)
    return A.trim(x), speed, pitch


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
    parts = [name for key, name in (("tempo", "tempo"), ("semitones", "pitch"), ("reverb", "reverb"))
             if key in cond]
    if "noise" in cond:
        parts.append("%s_%ddb" % (cond["noise"], int(round(cond["snr_db"] / 5.0) * 5)))
    if cond["level_dbfs"] < QUIET_RANGE[1]:
        parts.append("quiet")
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
    elif name != "clean":
        kind, snr = name.split("_")
        cond["noise"], cond["snr_db"] = kind, float(snr[:-2])
    return cond


def render_clip(job, pool):
    """A positive or near-miss clip, 1.5-2.5 s, the phrase after 0.2 s or more of lead-in."""
    rng = rng_for(job)
    voice = _voice(job, rng)
    texts = job["texts"]
    text = texts[int(rng.integers(len(texts)))]
    word, speed, pitch = _synth_word(voice, text, rng)
    cond = dev_condition(job["condition"], rng) if job["condition"] else train_condition(rng)
    if "tempo" in cond:
        word = A.time_stretch(word, 1.0 + cond["tempo"])
    if "semitones" in cond:
        word = A.pitch_shift(word, cond["semitones"])
    n_word = len(word)
    tail = int(RATE * rng.uniform(0.5, 0.9))  # room after the word for a detector's latency
    lead = int(RATE * rng.uniform(0.2, 0.6))
    n = max(int(RATE * rng.uniform(1.5, 2.5)), lead + n_word + tail)
    lead = max(lead, n - n_word - tail - int(RATE * rng.uniform(0.0, 0.3)))
    lead = min(lead, n - n_word - int(0.5 * RATE))
    x = np.zeros(n, np.float32)
    x[lead: lead + n_word] = word
    span = slice(lead, lead + n_word)
    rt60 = None
    if cond.get("reverb"):
        h, rt60 = A.room_impulse(rng)
        x = A.convolve(x, h)
    x = A.set_level(x, cond["level_dbfs"], ref=x[span])
    if "noise" in cond:
        noise = A.make_noise(cond["noise"], n, rng, pool)
        x = A.add_noise(x, noise, cond["snr_db"], ref=x[span])
    # Loud TTS with a high crest factor would clip: turn the whole mix down instead (the SNR
    # stays, the level recorded is the one achieved).
    x, gain_db = A.limit_peak(x)
    cond["level_dbfs"] += gain_db
    x = x + A.white_noise(n, rng) * 10.0 ** (NOISE_FLOOR_DBFS / 20.0)
    rel = "%s/%05d.wav" % (job["label"], job["index"])
    write_wav(os.path.join(job["split_dir"], rel), x)
    entry = {"file": rel, "label": job["label"], "voice": voice.id, "condition": cond["name"],
             "duration_s": round(n / RATE, 4), "text": text,
             "level_dbfs": round(cond["level_dbfs"], 2), "speed": round(speed, 3), "pitch": pitch}
    if job["label"] == "pos":
        entry["word_start_s"] = round(lead / RATE, 4)
        entry["word_end_s"] = round((lead + n_word) / RATE, 4)
    for k in ("tempo", "semitones", "snr_db"):
        if k in cond:
            entry[k] = round(cond[k], 3)
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
            voice = _voice(job, rng)
            voices_used.add(voice.id)
            text = T.paragraph(rng, job["word"], int(rng.integers(2, 9)))
            x = A.trim(tts.synth(voice, text, speed=float(rng.uniform(0.8, 1.25)),
                                 pitch=int(rng.integers(25, 76))))
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
    x, _ = A.limit_peak(x + A.set_level(bg, float(rng.uniform(-65.0, -40.0))))
    x = x + A.white_noise(target, rng) * 10.0 ** (NOISE_FLOOR_DBFS / 20.0)
    rel = "neg/long_%03d.wav" % job["index"]
    write_wav(os.path.join(job["split_dir"], rel), x)
    return {"file": rel, "label": "neg", "voice": "mixed:%d" % len(voices_used),
            "condition": "longform+%s_bg" % bg_kind, "duration_s": round(target / RATE, 3)}


def render_babble_part(job, _pool=None):
    """A stretch of speech from one voice, for the split's babble pool (returns samples)."""
    rng = rng_for(job)
    voice = _voice(job, rng)
    text = T.paragraph(rng, job["word"], 4)
    x = A.trim(tts.synth(voice, text, speed=float(rng.uniform(0.9, 1.2)),
                         pitch=int(rng.integers(30, 70))))
    return A.set_level(x, -20.0)
