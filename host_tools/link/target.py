"""What `--port` names: a device path, a pyserial URL, or `sim` (a virtual board)."""

import contextlib

from ..errors import EarshotError


@contextlib.contextmanager
def open_target(port, progress=None):
    """Yield a usable port path; for `sim`, a freshly deployed virtual board's port."""
    if not port:
        raise EarshotError("no port given: pass --port PORT (earshot ports lists them) or "
                           "--port sim for a virtual board")
    if port != "sim":
        yield port
        return
    from ..sim import VirtualBoard

    with VirtualBoard() as board:
        board.deploy(progress=progress)
        yield board.port
