"""What the command modules share: the --port option."""

import os


def add_port_argument(parser):
    parser.add_argument(
        "--port", "-p", default=os.environ.get("EARSHOT_PORT"),
        help="serial port or pyserial URL (socket://, rfc2217://); 'sim' starts a virtual "
             "board with the firmware deployed (default: $EARSHOT_PORT)",
    )
