"""Run code inside the real MicroPython Unix port (the same binary the virtual board runs)."""

import os
import subprocess
from pathlib import Path

from host_tools.resources import firmware_dir
from host_tools.sim.unix_port import micropython_binary

ROOT = Path(__file__).resolve().parent.parent
FIRMWARE = firmware_dir()


def run_mpy(code, *, heap="256K", cwd=None, timeout=60, check=True, extra_path=()):
    """Run `code` in MicroPython with firmware/ on sys.path; return stdout as str.

    Raises AssertionError with stdout/stderr if the run fails and `check` is set.
    """
    prelude = "import sys\nsys.path.insert(0, %r)\n" % str(FIRMWARE)
    for p in extra_path:
        prelude += "sys.path.insert(0, %r)\n" % str(p)
    proc = subprocess.run(
        [micropython_binary(), "-X", "heapsize=" + heap, "-c", prelude + code],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=cwd or os.getcwd(),
    )
    if check and proc.returncode != 0:
        raise AssertionError(
            "micropython exited %d\nstdout:\n%s\nstderr:\n%s"
            % (proc.returncode, proc.stdout, proc.stderr)
        )
    return proc.stdout
