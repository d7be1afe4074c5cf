"""earshot record: receive sessions, verify each, store audio + a JSON sidecar with its consent.

Without the `retain` consent flag only the metadata is written, never the audio.
"""

import time
from pathlib import Path

from .common import add_port_argument


def setup(p):
    add_port_argument(p)
    p.add_argument("--out", required=True, help="directory for sessions")
    p.add_argument("--key-file", required=True, help="the key from earshot provision")
    p.add_argument("--seconds", type=float, default=None, help="stop after this long")


def run(args):
    from ..board.keys import read_key
    from ..link.client import Client
    from ..link.protocol import T_SESSION_CHUNK, T_SESSION_CLOSE, T_SESSION_HEADER
    from ..link.target import open_target
    from ..records.recorder import store_session

    key = read_key(args.key_file)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    end = time.monotonic() + args.seconds if args.seconds else None
    records = []
    with open_target(args.port) as port, Client(port) as board:
        board.hello()
        while end is None or time.monotonic() < end:
            for f in board.frames(0.2):
                if f.type == T_SESSION_HEADER:
                    records = [f.payload]
                elif f.type == T_SESSION_CHUNK:
                    records.append(f.payload)
                elif f.type == T_SESSION_CLOSE:
                    records.append(f.payload)
                    side = store_session(out, records, key)
                    print("session stored: %s" % side, flush=True)
                    records = []
    return 0
