"""earshot record: receive sessions, verify each, store audio + a JSON sidecar with its consent.

Without the `retain` consent flag only the metadata is written, never the audio. A session cut
off (the board reset, or the recording stopped) is stored as truncated, never dropped.
"""

import time
from pathlib import Path

from .common import add_port_argument


def setup(p):
    add_port_argument(p)
    p.add_argument("--out", required=True, help="directory for sessions")
    p.add_argument("--key-file", required=True, help="the key from earshot provision")
    p.add_argument("--seconds", type=float, default=None, help="stop after this long")
    p.add_argument("--history", metavar="FILE", default=None,
                   help="receiver history (default: $EARSHOT_HISTORY or "
                        "~/.local/state/earshot/receiver.json)")


def run(args):
    from ..board.keys import read_key
    from ..link.client import Client
    from ..link.protocol import T_EVENT, T_SESSION_CHUNK, T_SESSION_CLOSE, T_SESSION_HEADER
    from ..link.target import open_target
    from ..records.history import History
    from ..records.recorder import Recorder

    key = read_key(args.key_file)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    rec = Recorder(out, key, History.load(args.history),
                   say=lambda line: print(line, flush=True))
    end = time.monotonic() + args.seconds if args.seconds else None
    try:
        with open_target(args.port) as port, Client(port) as board:
            board.hello()
            while end is None or time.monotonic() < end:
                for f in board.frames(0.2):
                    if f.type == T_SESSION_HEADER:
                        rec.header(f.payload)
                    elif f.type == T_SESSION_CHUNK:
                        rec.chunk(f.payload)
                    elif f.type == T_SESSION_CLOSE:
                        rec.close(f.payload)
                    elif f.type == T_EVENT and f.event().get("ev") == "boot":
                        rec.board_restarted()
    finally:
        rec.finish()
    return 0
