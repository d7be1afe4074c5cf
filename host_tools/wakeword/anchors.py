"""Engines the benchmark compares: Earshot and the open anchors, each scoring a WAV list.

Every engine returns, per file, a score stream `{"file", "hop_s", "scores"}` where score i
covers the audio up to (i+1)*hop_s and the engine fires when a score reaches its threshold;
after firing it stays quiet for `refractory_s`. Differences between engines are data in the
ENGINES registry; the anchors run in their own venvs (see mk/wakeword.mk) through the
self-contained `anchors_run.py`, Earshot through `earshot wakeword score`.

An engine that cannot run here raises `NotSupportedError` with the reason, which the
benchmark prints in its table instead of leaving the engine out.
"""

import dataclasses
import json
import os
import subprocess
import sys

from ..errors import EarshotError, NotSupportedError

# Where `host_tools` is importable from, for the runner in the anchors' own venvs.
PACKAGE_PARENT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
RUNNER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "anchors_run.py")
ANCHOR_REFRACTORY_S = 2.0  # the anchors' own servers go busy for seconds after a detection


@dataclasses.dataclass(frozen=True)
class Engine:
    name: str
    label: str                 # how the table names it
    venv: str                  # relative to the working directory (make bench-wakeword: the
                               # checkout, where `make anchors` builds them); "" = this Python
    models: dict               # benchmark word slug -> engine model name
    default_threshold: dict    # word slug -> the shipped operating point, in score units
    refractory_s: float = ANCHOR_REFRACTORY_S
    note: str = ""
    version: int = 1           # bump when its runner's scoring changes (invalidates the cache)

    def python(self):
        py = os.path.join(os.getcwd(), self.venv, "bin", "python")
        if not os.path.exists(py):
            raise NotSupportedError("%s: venv %s is missing; build it with `make anchors`"
                                    % (self.name, self.venv))
        return py

    def model(self, word):
        if word not in self.models:
            raise NotSupportedError("%s ships no model for %r" % (self.name, word))
        return self.models[word]

    def score(self, word, paths, log=None):
        """Yield one score-stream dict per path, in order."""
        cmd = [self.python(), RUNNER, self.name, self.model(word)]
        yield from _stream(cmd, paths, stdin_list=True, what=self.name, log=log)


class Earshot(Engine):
    """The other half of the benchmark: `earshot wakeword score --model M WAV...`."""

    def score(self, word, paths, log=None):
        cmd = [sys.executable, "-m", "host_tools.cli", "wakeword", "score", "--model",
               self.model(word)]
        for i in range(0, len(paths), 400):  # argv stays well under ARG_MAX
            yield from _stream(cmd + list(paths[i: i + 400]), paths[i: i + 400], stdin_list=False,
                               what="earshot", log=log)

    def manifest(self, word):
        """(threshold, refractory_s) from the model manifest `earshot wakeword` loads."""
        try:
            from . import score as S
            _, man = S.load(self.model(word))
        except EarshotError as e:
            raise NotSupportedError(str(e)) from None
        except (ImportError, OSError, KeyError) as e:
            raise NotSupportedError("earshot: cannot load model %r (%s); train it with "
                                    "`earshot wakeword train`" % (self.model(word), e)) from None
        return man["threshold"], man["refractory"] * man["hop_s"]


def _stream(cmd, paths, stdin_list, what, log=None):
    """Run `cmd` (niced) and yield its JSON lines; the WAV list goes on stdin or in argv."""
    import tempfile
    env = dict(os.environ, PYTHONPATH=PACKAGE_PARENT, TF_CPP_MIN_LOG_LEVEL="3")
    # stderr goes to a file, not a pipe: a chatty engine must not block on a full pipe.
    with tempfile.TemporaryFile("w+") as f, tempfile.TemporaryFile("w+") as err:
        if stdin_list:
            f.write("\n".join(paths) + "\n")
            f.seek(0)
        proc = subprocess.Popen(cmd, env=env, text=True, stdin=f,
                                stdout=subprocess.PIPE, stderr=err,
                                preexec_fn=lambda: os.nice(10))
        try:
            yield from _read(proc, paths, what, log, err)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()


def _read(proc, paths, what, log, errfile):
    n = 0
    for line in proc.stdout:
        if not line.startswith("{"):
            continue
        rec = json.loads(line)
        if n >= len(paths) or os.path.abspath(rec["file"]) != os.path.abspath(paths[n]):
            proc.kill()
            raise EarshotError("%s: output out of order at %s" % (what, rec.get("file")))
        n += 1
        if log and n % 500 == 0:
            log("  %s: %d/%d files" % (what, n, len(paths)))
        yield rec
    rc = proc.wait()
    errfile.seek(0)
    err = errfile.read()
    if rc != 0 or n != len(paths):
        last = [l for l in err.strip().splitlines() if l.strip()][-1:] or ["no output"]
        raise NotSupportedError("%s failed after %d/%d files: %s" % (what, n, len(paths), last[0]))


# word slug -> engine model. Porcupine 1.9.5 ships "jarvis", not "hey jarvis": it is scored
# on the same "hey jarvis" clips (it only has to hear the second word).
ENGINES = {e.name: e for e in [
    Earshot("earshot", "Earshot", "", {"alexa": "alexa", "hey_jarvis": "hey_jarvis"}, {}),
    Engine("microwakeword", "microWakeWord v2", ".cache/venv-anchors",
           {"alexa": "alexa", "hey_jarvis": "hey_jarvis"}, {"alexa": 0.9, "hey_jarvis": 0.97},
           note="pymicro-wakeword 2.5.0 (TFLite); score = ESPHome's 5-window mean probability"),
    Engine("openwakeword", "openWakeWord", ".cache/venv-oww",
           {"alexa": "alexa_v0.1", "hey_jarvis": "hey_jarvis_v0.1"},
           {"alexa": 0.5, "hey_jarvis": 0.5},
           note="wyoming-openwakeword 1.8.2 models on tflite-runtime 2.14 (numpy<2 venv)",
           version=3),
    Engine("porcupine", "Porcupine 1.9.5", ".cache/venv-anchors",
           {"alexa": "alexa", "hey_jarvis": "jarvis"}, {"alexa": 0.5, "hey_jarvis": 0.5},
           note="score = 1 - the lowest of 8 sensitivities (0.1-1.0) that fired; default 0.5"),
    Engine("pocketsphinx", "PocketSphinx KWS", ".cache/venv-anchors",
           {"alexa": "alexa", "hey_jarvis": "hey_jarvis"}, {"alexa": -20.0, "hey_jarvis": -20.0},
           note="pocketsphinx 5 kws; score = log10 of the strictest kws_threshold that fired "
                "(grid 1e-5..1e-60)"),
]}


def get(name):
    if name not in ENGINES:
        raise EarshotError("unknown engine %r; choose from %s" % (name, ", ".join(ENGINES)))
    return ENGINES[name]
