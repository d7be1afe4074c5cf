"""One error type per boundary; the CLI turns each into `earshot: message`."""


class EarshotError(Exception):
    """A fatal error caused by the user's environment or input, not a bug.

    The message is one line that says what went wrong and how to fix it.
    """


class PortError(EarshotError):
    """The serial port could not be opened or went away."""


class ProtocolError(EarshotError):
    """The board answered with something that is not Earshot protocol v1."""


class NotSupportedError(EarshotError):
    """The target (board, backend, chip) cannot do what was asked."""
