"""`earshot verify CAPTURE [--key-file F]`: check a captured session stream.

Prints `OK` and one line per session, or fails with one line naming the first bad chunk and
why, e.g. `earshot: s.cap: chunk 7: reordered (arrives after chunk 8; session 1, counter 41)`.
"""

import os

KEY_ENV = "EARSHOT_KEY_FILE"


def setup(parser):
    parser.add_argument("capture", metavar="CAPTURE", help="capture file (docs/sessions.md)")
    parser.add_argument("--key-file", metavar="F", default=os.environ.get(KEY_ENV),
                        help="the board's signing key: 32 bytes or 64 hex digits "
                             "(default: $%s)" % KEY_ENV)


def run(args):
    from ..board.keys import read_key
    from ..errors import EarshotError
    from ..records.sessions import read_capture, verify_stream

    key = read_key(args.key_file)
    records = read_capture(args.capture)
    result = verify_stream(records, key)
    if not result.ok:
        raise EarshotError("%s: %s" % (args.capture, result.failure))
    if not result.sessions:
        raise EarshotError("%s: holds no sessions" % args.capture)
    total_ms = sum(s.duration_ms for s in result.sessions)
    print("OK %s: %d session%s, %d chunks, %.1f s of audio" % (
        args.capture, len(result.sessions), "" if len(result.sessions) == 1 else "s",
        sum(s.chunks for s in result.sessions), total_ms / 1000))
    for s in result.sessions:
        print("  #%d %s %s wake=%s start=%dms %dms %dB consent=%s end=%s digest=%s" % (
            s.counter, s.device_id, s.session_id, s.wake_word or "-", s.start_ms,
            s.duration_ms, s.nbytes, ",".join(s.consent) or "none", s.reason, s.digest[:16]))
    return 0
