"""Score WAV files with one anchor engine; runs inside that engine's own venv.

    python anchors_run.py ENGINE MODEL < list-of-wav-paths
    -> one JSON line per file: {"file", "hop_s", "scores": [...]}  (the `earshot wakeword
       score` contract: the engine fires when a score reaches its threshold)

Self-contained on purpose (stdlib + numpy + the engine's package): the anchor venvs do not
have Earshot installed. Engines that only say yes/no at a setting (Porcupine's sensitivity,
PocketSphinx's kws_threshold) are run at a grid of settings in one pass, and the score at an
instant is the strictest setting that fired there, so sweeping a threshold over the score is
the same as re-running the engine at each setting of the grid.
"""

import json
import os
import sys
import wave

import numpy as np

RATE = 16000
FLOOR = -1000.0  # "did not fire at any setting"


def read_wav(path):
    with wave.open(path, "rb") as w:
        if w.getframerate() != RATE or w.getsampwidth() != 2 or w.getnchannels() != 1:
            raise SystemExit("%s: need 16 kHz mono int16" % path)
        return np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")


class MicroWakeWord:
    """microWakeWord v2 via pymicro-wakeword 2.5.0: the score is the sliding-window mean
    probability that ESPHome compares with the model's probability_cutoff (one per 30 ms)."""

    def __init__(self, model):
        from pymicro_wakeword import MicroWakeWord as M, MicroWakeWordFeatures, Model
        self.mww = M.from_builtin(Model(model))
        self.features = MicroWakeWordFeatures
        self.hop_s = 0.01 * self.mww.stride
        self.pad_s = 33 * self.hop_s

    def scores(self, pcm):
        self.mww.reset()
        feats = self.features()
        out = []
        for f in feats.process_streaming(pcm.tobytes()):
            p = self.mww.process_streaming_prob(f)
            # The model runs once per `stride` feature frames (then its feature list is
            # cleared); in between the call returns a placeholder 0.0 that is not a score.
            if p is not None and not self.mww._features:
                out.append(float(p))
        return out


class OpenWakeWord:
    """openWakeWord (models from wyoming-openwakeword 1.8.2) on tflite-runtime: melspectrogram
    -> embedding (76 mel frames, step 8) -> classifier over the last 16 embeddings; one score
    per 80 ms chunk, as the streaming server computes it (batched here for speed)."""

    hop_s = 0.08
    pad_s = 3.04  # the Wyoming server starts every client with 3 s of zeros (38 chunks)

    def __init__(self, model):
        try:
            import tflite_runtime.interpreter as tfl
        except ImportError:  # ai-edge-litert is tflite-runtime's successor
            import ai_edge_litert.interpreter as tfl
        import wyoming_openwakeword
        d = os.path.join(os.path.dirname(wyoming_openwakeword.__file__), "models")
        self.mel = tfl.Interpreter(model_path=os.path.join(d, "melspectrogram.tflite"), num_threads=1)
        self.emb = tfl.Interpreter(model_path=os.path.join(d, "embedding_model.tflite"), num_threads=1)
        self.ww = tfl.Interpreter(model_path=os.path.join(d, model + ".tflite"), num_threads=1)
        self.ww_windows = int(self.ww.get_input_details()[0]["shape"][1])
        self.ww_batch = 512
        self._shapes = {}

    def _run(self, interp, x):
        i = interp.get_input_details()[0]["index"]
        if self._shapes.get(id(interp)) != x.shape:  # resizing re-plans the graph: only on change
            interp.resize_tensor_input(i, x.shape, strict=False)
            interp.allocate_tensors()
            self._shapes[id(interp)] = x.shape
        interp.set_tensor(i, x)
        interp.invoke()
        return interp.get_tensor(interp.get_output_details()[0]["index"])

    def mels(self, audio):
        """Mel frames as the server makes them: one 1760-sample window per 1280-sample chunk,
        one at a time. The mel model clamps its dB range relative to the loudest value of
        the whole input tensor, so batching chunks (or longer inputs) changes the result."""
        n = (len(audio) - 480) // 1280
        out = np.zeros((max(0, n) * 8, 32), np.float32)
        for c in range(max(0, n)):
            m = self._run(self.mel, audio[None, c * 1280: c * 1280 + 1760])
            out[c * 8: c * 8 + 8] = m[0, 0] / 10.0 + 2.0
        return out

    def scores(self, pcm):
        mels = self.mels(pcm.astype(np.float32))
        # The server embeds the last 76 mel frames after each 80 ms chunk (8 frames), so its
        # windows end at multiples of 8 frames and start at 4 + 8k; the model is sensitive to
        # that alignment (a 40 ms shift moves scores a lot), so keep it.
        n_emb = (len(mels) - 4 - 76) // 8 + 1
        if n_emb < self.ww_windows:
            return []
        wins = np.stack([mels[4 + i * 8: 4 + i * 8 + 76] for i in range(n_emb)])[..., None]
        embs = []
        for s in range(0, n_emb, 512):
            embs.append(self._run(self.emb, wins[s: s + 512].astype(np.float32)).reshape(-1, 96))
        embs = np.concatenate(embs)
        n = len(embs) - self.ww_windows + 1
        feats = np.stack([embs[i: i + self.ww_windows] for i in range(n)]).astype(np.float32)
        return self._classify(feats)

    def _classify(self, feats):
        n = len(feats)
        out = []
        for s in range(0, n, self.ww_batch):
            try:
                out.append(self._run(self.ww, feats[s: s + self.ww_batch]).reshape(-1))
            except RuntimeError:
                if self.ww_batch == 1:
                    raise
                # Some classifiers (hey_jarvis_v0.1) reshape to a fixed batch of 1, as the
                # Wyoming server runs them; fall back to one window at a time.
                self.ww_batch = 1
                return self._classify(feats)
        # Chunk c (0-based) gives the first embedding at c = 9 (80 mel frames) and the first
        # score at c = 9 + ww_windows - 1; pad so that score i is the one after chunk i.
        lead = self.ww_windows - 1 + 9
        return [0.0] * lead + [float(v) for v in np.concatenate(out)]


class Porcupine:
    """Porcupine 1.9.5 (no access key) at a grid of sensitivities in one pass."""

    GRID = (0.1, 0.3, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)

    def __init__(self, model):
        import pvporcupine
        self.handles = [pvporcupine.create(keywords=[model], sensitivities=[s]) for s in self.GRID]
        self.frame = self.handles[0].frame_length
        self.hop_s = self.frame / RATE
        self.pad_s = 31 * self.hop_s

    def scores(self, pcm):
        # Porcupine 1.9.5 has no reset(); the second of silence main() puts in front of every
        # file flushes the previous one out (re-creating 8 handles per file costs more).
        import ctypes
        n = len(pcm) // self.frame
        out = [FLOOR] * n
        pcm = np.ascontiguousarray(pcm, dtype=np.int16)
        base = pcm.ctypes.data
        step = self.frame * 2
        result = ctypes.c_int()
        res_ref = ctypes.byref(result)
        short_p = ctypes.POINTER(ctypes.c_short)
        # Porcupine.process() copies each frame element by element into a ctypes array
        # (most of its cost); call the library on a pointer into the numpy buffer instead.
        calls = [(1.0 - s, h.process_func, h._handle, h.PicovoiceStatuses.SUCCESS)
                 for s, h in zip(self.GRID, self.handles)]
        for j in range(n):
            ptr = ctypes.cast(base + j * step, short_p)
            for score, fn, handle, ok in calls:
                if fn(handle, ptr, res_ref) is not ok:
                    raise SystemExit("porcupine: process failed")
                if result.value >= 0 and score > out[j]:
                    # Score = 1 - sensitivity: fires at sensitivity s <=> score >= 1 - s.
                    out[j] = score
        return out


class PocketSphinx:
    """PocketSphinx 5 keyword spotting with a grid of kws_threshold values in one decoder
    (one pseudo-word per threshold, same phones); score = log10 of the strictest threshold
    that fired, at the end of the 50 ms piece of audio in which it was reported."""

    GRID = tuple(10.0 ** -e for e in range(5, 65, 5))
    hop_s = 0.01
    pad_s = 1.0

    def __init__(self, model):
        import tempfile
        from pocketsphinx import Decoder, get_model_path
        phrase = model.replace("_", " ").split()
        lex = {}
        with open(os.path.join(get_model_path(), "en-us", "cmudict-en-us.dict")) as f:
            for line in f:
                w, _, ph = line.strip().partition(" ")
                lex.setdefault(w, ph)
        missing = [w for w in phrase if w not in lex]
        if missing:
            raise SystemExit("pocketsphinx: no pronunciation for %s" % missing)
        phones = " ".join(lex[w] for w in phrase)
        self.tmp = tempfile.mkdtemp(prefix="earshot-psx-")
        with open(os.path.join(self.tmp, "kw.dict"), "w") as f, \
                open(os.path.join(self.tmp, "kw.list"), "w") as g:
            for i, t in enumerate(self.GRID):
                f.write("kw%d %s\n" % (i, phones))
                g.write("kw%d /%g/\n" % (i, t))
        self.decoder = Decoder(dict=os.path.join(self.tmp, "kw.dict"),
                               kws=os.path.join(self.tmp, "kw.list"), loglevel="FATAL")

    def scores(self, pcm):
        d = self.decoder
        n = len(pcm) // 160
        out = [FLOOR] * n
        seen, base = 0, 0
        d.start_utt()
        step = 160 * 5  # 50 ms pieces: a detection is timed at the end of its piece
        for s in range(0, len(pcm), step):
            d.process_raw(pcm[s: s + step].tobytes(), False, False)
            if d.hyp() is not None:
                segs = list(d.seg())
                # The segment's end_frame is where the keyphrase ended, not when the spotter
                # said so; the benchmark wants the latter, as a device would see it.
                j = min(n - 1, (s + step) // 160 - 1)
                for seg in segs[seen:]:
                    i = int(seg.word.strip()[2:])
                    out[j] = max(out[j], float(np.log10(self.GRID[i])))
                seen = len(segs)
            if s + step - base * 160 >= RATE * 60:
                # Keep the utterance (and its list of detections) short on long files.
                d.end_utt()
                d.start_utt()
                seen, base = 0, (s + step) // 160
        d.end_utt()
        return out


ENGINES = {"microwakeword": MicroWakeWord, "openwakeword": OpenWakeWord,
           "porcupine": Porcupine, "pocketsphinx": PocketSphinx}


def main(argv):
    engine, model = argv[1], argv[2]
    runner = ENGINES[engine](model)
    for line in sys.stdin:
        path = line.strip()
        if not path:
            continue
        # Every engine gets `pad_s` of silence first (a whole number of its hops, dropped from
        # the output) so it starts warm, as it would on an always-listening device.
        skip = int(round(runner.pad_s / runner.hop_s))
        pad = np.zeros(int(round(runner.pad_s * RATE)), np.int16)
        scores = runner.scores(np.concatenate([pad, read_wav(path)]))[skip:]
        sys.stdout.write(json.dumps({"file": path, "hop_s": runner.hop_s,
                                     "scores": [round(v, 5) for v in scores]}) + "\n")
        sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
