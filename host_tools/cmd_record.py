"""earshot record: receive sessions, verify each, store audio + a JSON sidecar with its consent.

Without the `retain` consent flag only the metadata is written, never the audio.
"""

import json
import time
import wave
from pathlib import Path

from .target import add_port_argument


def setup(p):
    add_port_argument(p)
    p.add_argument("--out", required=True, help="directory for sessions")
    p.add_argument("--key-file", required=True, help="the key from earshot provision")
    p.add_argument("--seconds", type=float, default=None, help="stop after this long")


def store_session(out, records, key):
    """Verify one session's records and write it; returns the sidecar path."""
    from . import sessions

    result = sessions.verify_stream(records, key)
    info = result.sessions[0] if result.sessions else None
    name = info.session_id if info else "session-%d" % int(time.time() * 1000)
    meta = {"verified": result.ok, "failure": str(result.failure) if result.failure else None}
    if info:
        meta.update(device_id=info.device_id, counter=info.counter, wake_word=info.wake_word,
                    consent=info.consent, start_ms=info.start_ms, bytes=info.nbytes,
                    end=info.reason)
    keep_audio = result.ok and info is not None and "retain" in info.consent
    if keep_audio:
        pcm = b"".join(sessions.parse_record(r).pcm for r in records
                       if r[:1] == bytes([sessions.CHUNK]))
        with wave.open(str(out / (name + ".wav")), "wb") as w:
            w.setnchannels(1)
            w.setsampwidth(2)
            w.setframerate(16000)
            w.writeframes(pcm)
    meta["audio"] = (name + ".wav") if keep_audio else None
    side = out / (name + ".json")
    side.write_text(json.dumps(meta, indent=1))
    return side


def run(args):
    from .client import Board
    from .proto import T_SESSION_CHUNK, T_SESSION_CLOSE, T_SESSION_HEADER
    from .target import open_target

    key = bytes.fromhex(Path(args.key_file).read_text().strip())
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    end = time.monotonic() + args.seconds if args.seconds else None
    records = []
    with open_target(args.port) as port, Board(port) as board:
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
