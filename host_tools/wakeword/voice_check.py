"""Is a voice intelligible? An open-vocabulary recogniser (PocketSphinx's US English model and
language model) transcribes a few plain sentences spoken by each natural/neural speaker; the
word error rate against the text says whether a listener would hear the words. A voice that
the recogniser cannot follow much worse than the reference voices is not used: its "alexa"
might not be one.

    python -m host_tools.wakeword.voice_check [--out out/voice_check.json]

Needs the `[voices]` extra (Piper, Kokoro, PocketSphinx). The result (per voice: WER, and what
was heard) is what docs/wakeword-data.md records.
"""

import argparse
import json
import os
import re
import sys
import time

import numpy as np

from . import augment as A
from . import dataset_tts as tts

SENTENCES = (
    "the weather is nice today",
    "please turn on the kitchen light",
    "what time is it",
    "I would like a cup of coffee",
    "open the door for me",
    "play some music in the living room",
    "call my mother tomorrow morning",
    "set a timer for ten minutes",
)
REFERENCES = ("espeak:en-us", "flite:awb")  # formant and diphone voices, for comparison
MAX_WER = 0.5  # a voice is used when the recogniser gets at least half of the words


def wer(ref, hyp):
    """Word error rate (Levenshtein over words) of `hyp` against `ref`."""
    r, h = ref.split(), hyp.split()
    d = np.arange(len(h) + 1)
    for i, rw in enumerate(r, 1):
        prev, d[0] = d.copy(), i
        for j, hw in enumerate(h, 1):
            d[j] = min(prev[j] + 1, d[j - 1] + 1, prev[j - 1] + (rw != hw))
    return d[len(h)] / max(1, len(r))


def _decoder():
    from pocketsphinx import Decoder
    return Decoder(samprate=16000, loglevel="FATAL")


def transcribe(decoder, x):
    pcm = A.to_int16(A.set_level(x, -20.0)).tobytes()
    decoder.start_utt()
    decoder.process_raw(pcm, full_utt=True)
    decoder.end_utt()
    hyp = decoder.hyp()
    return re.sub(r"<[^>]*>|\(\d+\)", "", hyp.hypstr if hyp else "").strip()


def check(voices, log=print):
    dec = _decoder()
    out = {}
    for v in voices:
        t0 = time.time()
        errs, heard = [], []
        for text in SENTENCES:
            x = tts.synth(v, text.capitalize() + ".")
            h = transcribe(dec, x)
            errs.append(wer(text, h))
            heard.append(h)
        out[v.id] = {"wer": round(float(np.mean(errs)), 3), "heard": heard,
                     "split": "reference" if v.id in REFERENCES else tts.speaker_split(v),
                     "used": bool(np.mean(errs) <= MAX_WER)}
        log("%-50s WER %.2f (%.0f s)" % (v.id, out[v.id]["wer"], time.time() - t0))
    return out


def speakers():
    """The references, every natural/neural base speaker, and a few Kokoro blends."""
    vs = [tts.Voice("espeak", "en-us", ""), tts.Voice("flite", "awb", "awb"),
          tts.Voice("flite", "rms", "rms")]
    vs += [tts.Voice("pico", n, n) for n in tts.PICO_VOICES]
    vs += [tts.Voice("piper", n, n) for n in tts.PIPER_VOICES]
    vs += [tts.Voice("kokoro", n, n) for n in tts.KOKORO_BASES]
    train_bases = [b for b in tts.KOKORO_BASES if tts.SPEAKER_SPLIT.get("kokoro:" + b) is None]
    vs += [tts.Voice("kokoro", n, n) for n in tts.kokoro_blends(train_bases)]
    return vs


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m host_tools.wakeword.voice_check")
    p.add_argument("--out", default=os.path.join("out", "voice_check.json"))
    p.add_argument("--only", nargs="*", help="voice ids to check (default: all candidates)")
    a = p.parse_args(argv)
    vs = [v for v in speakers() if not a.only or v.id in a.only]
    res = check(vs, log=lambda m: print(m, file=sys.stderr, flush=True))
    os.makedirs(os.path.dirname(a.out) or ".", exist_ok=True)
    with open(a.out, "w") as f:
        json.dump(res, f, indent=1)
    print("| voice | split | WER | used |\n|---|---|---|---|")
    for k, r in res.items():
        print("| %s | %s | %.0f %% | %s |" % (k, r["split"], 100 * r["wer"], "yes" if r["used"] else "no"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
