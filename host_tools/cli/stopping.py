"""What a command that leaves something waiting on the board needs when it is stopped.

`earshot consent set` and `earshot provision` may leave a request on the board that waits for
the household's gesture. Stopped by Ctrl-C (SIGINT) or by `kill`/`timeout` (SIGTERM), they
withdraw it on the board before they exit (link/client.py Client.command_confirmed), so no
gesture later confirms a request whose command is gone. SIGTERM is turned into the same
KeyboardInterrupt here; the CLI then exits 130 as for Ctrl-C.
"""

import contextlib
import signal


@contextlib.contextmanager
def terminate_as_interrupt(exc=KeyboardInterrupt):
    """SIGTERM raises `exc` (KeyboardInterrupt: as Ctrl-C) inside the block."""
    def _raise(signum, frame):
        raise exc

    try:
        old = signal.signal(signal.SIGTERM, _raise)
    except ValueError:  # not the main thread (a test calling run()): leave SIGTERM alone
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, old)


def requester(argv=None):
    """Who asks, as the board shows it to the household: user@host and the command (its words
    up to the first option: no port names or file paths). The board keeps 80 characters."""
    import getpass
    import socket
    import sys

    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "someone"
    words = ["earshot"]
    for word in (sys.argv if argv is None else argv)[1:]:
        if word.startswith("-") or len(words) > 3:
            break
        words.append(word)
    return ("%s@%s: %s" % (user, socket.gethostname() or "?", " ".join(words)))[:80]
