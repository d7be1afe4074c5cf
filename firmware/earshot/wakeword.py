# On-device wake-word detector: 20 ms of audio in, "fired" out.
#
#   det = Detector("/models/alexa.bin", "/models/alexa.json")
#   if det.feed(frame):   # frame: bytearray of 320 int16 LE samples (16 kHz mono)
#       ...               # det.word was heard; det.last_score is the smoothed score
#
# feed() does constant work per call (one feature frame, one output per model layer) and
# allocates nothing once constructed. The score is the sum of (logit + 127) (0..254 each) over
# the last `smooth` hops; the detector fires when it reaches `threshold`, then stays quiet for
# `refractory` hops. host_tools/wakeword/ holds the bit-exact numpy twin used for scoring.
import json

from earshot.ww_bounds import ModelError, check
from earshot.ww_front import Frontend
from earshot.ww_model import Model

MODEL_TYPE = "earshot-tcn"
MODEL_VERSION = 1
CHOICE = "wake_word.txt"  # in the models folder: the one model to load (earshot deploy --wake-word)


def chosen(folder):
    # folder + "/<name>" of the model `earshot deploy --wake-word` chose, or None when no model
    # is chosen (no choice file, or an empty one): the board loads exactly the chosen model.
    try:
        with open(folder + "/" + CHOICE) as f:
            name = f.read().strip()
    except OSError:
        return None
    return folder + "/" + name if name else None


def _read(path, size):
    # a heap bytearray is word-aligned, which the viper ptr16 loads need on the ESP32-S3
    buf = bytearray(size)
    with open(path, "rb") as f:
        if f.readinto(buf) != size:
            raise ModelError("%s does not match its manifest" % path)
    return buf


class Detector:
    def __init__(self, model_path, manifest_path):
        with open(manifest_path) as f:
            man = json.load(f)
        if man.get("type") != MODEL_TYPE or man.get("version") != MODEL_VERSION:
            raise ModelError("%s: not an %s v%d manifest" % (manifest_path, MODEL_TYPE, MODEL_VERSION))
        blob = _read(model_path, man["model_bytes"])
        if blob[:4] != b"EWW1":
            raise ModelError("%s does not match its manifest" % model_path)
        check(model_path, man, blob)  # the premises of the int32 proofs, or ModelError
        mv = memoryview(blob)
        t = {}
        for name, (off, n) in man["tensors"].items():
            t[name] = mv[off:off + n]
        feat = man["features"]
        self._blob = blob
        self.word = man["word"]
        self.threshold = man["threshold"]
        self.refractory = man["refractory"]
        self._front = Frontend(t["window"], t["tw_re"], t["tw_im"], t["mel_seg"], t["mel_w"])
        self._model = Model(t, man["channels"], man["dilations"], feat["bands"])
        self._smooth = bytearray(man["smooth"])
        self.last_score = 0
        self._sum = 0
        self._si = 0
        self._quiet = 0

    def reset(self):
        self._front.reset()
        self._model.reset()
        for i in range(len(self._smooth)):
            self._smooth[i] = 0
        self.last_score = 0
        self._sum = 0
        self._si = 0
        self._quiet = 0

    def feed(self, buf):
        """One 20 ms frame (bytearray of 320 int16 LE samples) -> 1 if the word fired now."""
        self._front.step(buf, self._model.newest)
        p = self._model.step() + 127
        sm = self._smooth
        i = self._si
        self._sum += p - sm[i]
        sm[i] = p
        i += 1
        if i == len(sm):
            i = 0
        self._si = i
        self.last_score = self._sum
        if self._quiet > 0:
            self._quiet -= 1
            return 0
        if self._sum >= self.threshold:
            self._quiet = self.refractory
            return 1
        return 0
