"""Run code inside the real MicroPython Unix port (the same binary the virtual board runs).
The runner is the package's own (host_tools/sim/unix_port.py: the detector benchmarks use it
too, and an installed earshot has no tests package)."""

from pathlib import Path

from host_tools.resources import firmware_dir
from host_tools.sim.unix_port import run_mpy  # noqa: F401 (the tests import it from here)

ROOT = Path(__file__).resolve().parent.parent
FIRMWARE = firmware_dir()
