"""`earshot verify CAPTURE [--key-file F]`: check a captured session stream.

Prints `OK` and one line per session, or fails with one line naming the first bad chunk and
why, e.g. `earshot: s.cap: chunk 7: reordered (arrives after chunk 8; session 1, counter 41)`.
What it received is remembered in the receiver history (docs/sessions.md), so the same session
in another capture, or a session missing between two captures, fails too.
"""

import os

KEY_ENV = "EARSHOT_KEY_FILE"


def setup(parser):
    parser.add_argument("capture", metavar="CAPTURE", help="capture file (docs/sessions.md)")
    parser.add_argument("--key-file", metavar="F", default=os.environ.get(KEY_ENV),
                        help="the board's signing key: 32 bytes or 64 hex digits "
                             "(default: $%s)" % KEY_ENV)
    parser.add_argument("--history", metavar="FILE", default=None,
                        help="receiver history (default: $EARSHOT_HISTORY or "
                             "~/.local/state/earshot/receiver.json)")


def run(args):
    import hashlib

    from ..board.keys import read_key
    from ..errors import EarshotError
    from ..records.history import History
    from ..records.sessions import read_capture, verify_stream

    key = read_key(args.key_file)
    records = read_capture(args.capture)
    history = History.load(args.history)
    digest = hashlib.sha256()
    for r in records:
        digest.update(hashlib.sha256(r).digest())
    source = "capture %s" % digest.hexdigest()[:16]
    result = verify_stream(records, key, history=history, source=source)
    history.commit(result.headers, source)
    history.save()
    if not result.ok:
        raise EarshotError("%s: %s" % (args.capture, result.failure))
    if not result.sessions:
        raise EarshotError("%s: holds no sessions" % args.capture)
    total_ms = sum(s.duration_ms for s in result.sessions)
    print("OK %s: %d session%s, %d chunks, %.1f s of audio" % (
        args.capture, len(result.sessions), "" if len(result.sessions) == 1 else "s",
        sum(s.chunks for s in result.sessions), total_ms / 1000))
    for s in result.sessions:
        print("  #%d %s %s wake=%s start=%dms %dms %dB consent=%s end=%s digest=%s%s" % (
            s.counter, s.device_id, s.session_id, s.wake_word or "-", s.start_ms,
            s.duration_ms, s.nbytes, ",".join(s.consent) or "none", s.reason, s.digest[:16],
            " TEST (audio may be the host's own, not a wake word anyone said)" if s.test
            else ""))
    return 0
