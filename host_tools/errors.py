"""One error type per boundary; the CLI turns each into `earshot: message` and exit status 1
(2 for a UsageError: the command line itself is wrong)."""


class EarshotError(Exception):
    """A fatal error caused by the user's environment or input, not a bug.

    The message is one line that says what went wrong and how to fix it.
    """


class PortError(EarshotError):
    """The serial port could not be opened or went away.

    `kind` says why, for callers that act on it (the port listing): "denied", "busy",
    "missing", "invalid" (not a port name pyserial understands) or "other".
    """

    def __init__(self, message, kind="other"):
        super().__init__(message)
        self.kind = kind


class ProtocolError(EarshotError):
    """The board answered with something that is not Earshot protocol v1."""


class NotSupportedError(EarshotError):
    """The target (board, backend, chip) cannot do what was asked."""


class UsageError(EarshotError):
    """Arguments that argparse accepts one by one but not together (exit status 2, like
    argparse's own errors)."""
