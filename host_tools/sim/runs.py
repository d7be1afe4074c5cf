"""Running virtual boards, so later commands reach them: `--port sim` and `--port sim:NAME`.

`earshot sim` registers itself under a name (default "default"): while it runs it holds
`<home>/run/<name>.lock` and publishes `<home>/run/<name>.json` (its serial port, control
socket, flash directory, board id, pid). A registration whose lock nobody holds is stale (a
killed simulator) and is ignored and removed. `<home>` is $EARSHOT_HOME, else
$XDG_CACHE_HOME/earshot, else ~/.cache/earshot.

Each name has its own persistent flash directory, `<home>/sim/<name>`, unless --flash says
otherwise. earshot sim only uses, and only erases, a directory it created: it marks it with
`earshot-sim.json`. The board's own files live in its `fs/` (mounted at / on the board).
"""

import fcntl
import json
import os
import re
from pathlib import Path

from ..errors import EarshotError

DEFAULT_NAME = "default"
MARKER = "earshot-sim.json"
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,31}\Z")


def home():
    if os.environ.get("EARSHOT_HOME"):
        return Path(os.environ["EARSHOT_HOME"])
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "earshot"


def check_name(name):
    if not _NAME.match(name or ""):
        raise EarshotError("virtual board name %r: use 1-32 letters, digits, '.', '_' or '-'"
                           % (name,))
    return name


# -- the flash directory ---------------------------------------------------------------------


def default_flash(name):
    return home() / "sim" / check_name(name)


def prepare_flash(path):
    """The board filesystem directory inside flash directory `path`, creating what is missing.

    Refuses a path that is a file, or an existing non-empty directory earshot did not create:
    --erase then can only ever empty a directory that is the simulator's own.
    """
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise EarshotError("--flash %s is not a directory: give a directory for the virtual "
                           "board's flash (earshot sim creates it)" % path)
    if path.is_dir() and any(path.iterdir()) and not (path / MARKER).is_file():
        raise EarshotError("--flash %s is not a virtual board's flash (it has no %s): earshot "
                           "sim only uses, and only erases, a directory it created; give a new "
                           "or empty directory" % (path, MARKER))
    try:
        (path / "fs").mkdir(parents=True, exist_ok=True)
        if not (path / MARKER).is_file():
            (path / MARKER).write_text(json.dumps({
                "what": "the flash of an Earshot virtual board (earshot sim)",
                "fs": "the board's files, mounted at / on the board",
                "fs.bin": "the raw SPI flash esptool writes in download mode",
            }, indent=1) + "\n")
    except OSError as e:
        raise EarshotError("cannot create --flash %s: %s" % (path, e.strerror or e)) from None
    return path / "fs"


def lock_flash(flash_dir):
    """Hold `<flash dir>.lock` while this board runs; EarshotError if another holds it."""
    path = flash_dir.with_name(flash_dir.name + ".lock")
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        holder = os.read(fd, 200).decode(errors="replace").strip() or "another process"
        os.close(fd)
        raise EarshotError("the virtual board flash %s is in use by %s: stop that one, or give "
                           "this one another --name (or --flash)" % (flash_dir, holder)) from None
    return fd


# -- the registry of running boards ----------------------------------------------------------


class Registration:
    """Held by a running `earshot sim`: the name is taken until close()."""

    def __init__(self, name):
        self.name = check_name(name)
        run = home() / "run"
        try:
            run.mkdir(parents=True, exist_ok=True)
            self._fd = os.open(run / (name + ".lock"), os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as e:
            raise EarshotError("cannot register the virtual board in %s: %s"
                               % (run, e.strerror or e)) from None
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(self._fd)
            other = _read(run / (name + ".json")) or {}
            raise EarshotError("a virtual board named %r is already running (serial %s, pid %s): "
                               "use it with --port sim:%s, or start this one with --name OTHER"
                               % (name, other.get("port", "?"), other.get("pid", "?"), name)
                               ) from None
        self.path = run / (name + ".json")

    def publish(self, **info):
        info = dict(info, name=self.name, pid=os.getpid())
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(info, indent=1) + "\n")
        os.replace(tmp, self.path)

    def close(self):
        if self._fd is not None:
            try:
                self.path.unlink()
            except OSError:
                pass
            os.close(self._fd)
            self._fd = None


def running():
    """Registrations of the virtual boards running now, sorted by name."""
    run = home() / "run"
    boards = []
    for info_path in sorted(run.glob("*.json")) if run.is_dir() else ():
        if _remove_if_stale(info_path):
            continue
        info = _read(info_path)
        if info:
            boards.append(info)
    return boards


def find(spec):
    """The registration `--port sim` or `--port sim:NAME` means, or a one-line error.

    Bare `sim` is the board started without --name (named "default") while it runs, else the
    only one running: what each `earshot sim` prints ("reach it with --port sim" for the
    unnamed one, "--port sim:NAME" for a named one) stays true when a second one starts."""
    name = check_name(spec.split(":", 1)[1]) if ":" in spec else None
    boards = running()
    if name is not None:
        for info in boards:
            if info["name"] == name:
                return info
        raise EarshotError("no virtual board named %r is running%s: start it with `earshot sim "
                           "--name %s`" % (name, _listing(boards), name))
    if not boards:
        raise EarshotError("no virtual board is running: start one with `earshot sim --deploy` "
                           "in another terminal")
    unnamed = [b for b in boards if b["name"] == DEFAULT_NAME]
    if unnamed:
        return unnamed[0]
    if len(boards) > 1:
        raise EarshotError("%d virtual boards are running and none is the unnamed one: pick one "
                           "with %s" % (len(boards), " or ".join("--port sim:" + b["name"]
                                                                 for b in boards)))
    return boards[0]


def by_device(port):
    """The registration of the running virtual board whose serial device (or --link to it)
    `port` is, else None: `--port /dev/pts/3` names a sim as surely as `--port sim:NAME`."""
    if "://" in port or not os.path.exists(port):
        return None
    real = os.path.realpath(port)
    for info in running():
        if os.path.realpath(info.get("port", "")) == real:
            return info
    return None


def _listing(boards):
    return " (running: %s)" % ", ".join(b["name"] for b in boards) if boards else ""


def _remove_if_stale(info_path):
    """True (and the registration removed) if no simulator holds its lock: it was killed.
    The removal happens while holding the lock, so a new simulator of that name cannot have
    published in between."""
    try:
        fd = os.open(info_path.with_suffix(".lock"), os.O_RDWR)
    except OSError:
        fd = None
    try:
        if fd is not None:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        info_path.unlink()
    except OSError:
        return fd is None
    finally:
        if fd is not None:
            os.close(fd)  # closing releases a lock we took
    return True


def _read(path):
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None
