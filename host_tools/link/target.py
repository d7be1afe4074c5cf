"""What `--port` names: a device path, a pyserial URL, or a running virtual board.

    --port /dev/ttyACM0          a board on USB (earshot ports lists them)
    --port socket://host:4000    any pyserial URL (socket://, rfc2217://)
    --port sim                   the virtual board started without --name, else the only one
    --port /dev/pts/3            a virtual board's serial port only (hil: a bare board); press,
                                 play, pins and power act on that virtual board
    --port sim:kitchen           the running virtual board named kitchen (earshot sim --name)
"""

import os
from dataclasses import dataclass

from ..errors import EarshotError

PORT_ENV = "EARSHOT_PORT"


@dataclass(frozen=True)
class Target:
    port: str  # what pyserial opens
    sim: dict | None = None  # the registration of a virtual board (sim/runs.py), if it is one

    @property
    def board_id(self):
        return self.sim.get("board") if self.sim else None


def is_sim(port):
    return port == "sim" or (port or "").startswith("sim:")


def resolve(port):
    """The Target `port` names; a one-line error if there is none."""
    if not port:
        raise EarshotError("no port given: pass --port PORT (earshot ports lists them), "
                           "--port sim for the virtual board, or set $%s" % PORT_ENV)
    if is_sim(port):
        from ..sim.runs import find

        info = find(port)
        return Target(info["port"], info)
    return Target(port)  # a sim's /dev/pts/N too: its serial port only, like a bare board


def default_port():
    return os.environ.get(PORT_ENV) or None


def resolve_sim(port):
    """The registration of the running virtual board `port` names (press, play, pins, power)."""
    if port and not is_sim(port):
        from ..sim.runs import by_device

        info = by_device(port)  # a running sim's own serial device: its buttons are that sim's
        if info:
            return info
        raise EarshotError("%s is not a virtual board: press, play, pins and power act on a "
                           "running `earshot sim` (--port sim or sim:NAME); a real board's "
                           "buttons need a rig (docs/hil-rig.md)" % port)
    return resolve(port).sim
