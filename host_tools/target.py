"""`--port` handling shared by the commands: a device path, a pyserial URL, or `sim`."""

import contextlib
import os

from .errors import EarshotError


def add_port_argument(parser, required=True):
    parser.add_argument(
        "--port", "-p", default=os.environ.get("EARSHOT_PORT"),
        help="serial port or pyserial URL (socket://, rfc2217://); 'sim' starts a virtual "
             "board with the firmware deployed (default: $EARSHOT_PORT)",
    )


@contextlib.contextmanager
def open_target(port, progress=None):
    """Yield a usable port path; for `sim`, a freshly deployed virtual board's port."""
    if not port:
        raise EarshotError("no port given: pass --port PORT (earshot ports lists them) or "
                           "--port sim for a virtual board")
    if port != "sim":
        yield port
        return
    from .sim import VirtualBoard

    with VirtualBoard() as board:
        board.deploy(progress=progress)
        yield board.port
