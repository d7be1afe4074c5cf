"""earshot record: receive sessions, verify each, keep them (docs/sessions.md, records/recorder.py).

Every session gets a sidecar <id>.json that `earshot verify` re-checks later; its audio (a
capture <id>.cap and <id>.wav) only when its consent has `retain`. A session cut off (the board
reset, or the recording stopped) is kept as <id>.truncated.*, flagged, never dropped. A session
that does not verify is kept as <id>.unverified.* and stops the command with exit status 1.

Without --seconds it records until Ctrl-C or SIGTERM (a service manager's stop), which is how
it is meant to end: exit status 0 when every session was kept whole, 1 when the stop cut a
session off (kept as <id>.truncated.*, its sidecar says why). With --seconds, Ctrl-C or SIGTERM
interrupts (130), keeping what arrived the same way.
"""

import time

from .common import SECONDS, add_history_argument, add_json_argument, add_port_argument


def setup(p):
    add_port_argument(p)
    p.add_argument("--out", required=True, metavar="DIR",
                   help="directory for the sessions (created if missing; files in it are never "
                        "overwritten)")
    p.add_argument("--key-file", required=True, metavar="FILE",
                   help="the board's key, from earshot provision (64 hex digits or 32 bytes)")
    p.add_argument("--seconds", type=SECONDS, default=None, metavar="S",
                   help="stop after S seconds (a session still open then is waited for); "
                        "default: until Ctrl-C")
    add_history_argument(p)
    add_json_argument(p, "one JSON object per session")


def run(args):
    from ..board.keys import read_key
    from ..link.client import Client
    from ..link.target import resolve
    from ..records.history import History
    from ..records.recorder import Recorder, prepare_out

    from ..errors import EarshotError, PortError
    from ..link.again import Whereabouts, reconnect
    from .stopping import terminate_as_interrupt

    key = read_key(args.key_file)
    out = prepare_out(args.out)
    port = resolve(args.port).port
    recorder = Recorder(out, key, History.load(args.history))

    def say(text):
        if not args.json:
            print(text, flush=True)

    with Client(port, share="record") as board, terminate_as_interrupt(Stopped):
        recorder.start(board.hello())
        where = Whereabouts.of(args.port)  # to find the same board again after a reset
        if not args.json:
            print("recording sessions from %s into %s%s" % (
                port, out, " for %g s" % args.seconds if args.seconds else " (Ctrl-C stops)"),
                flush=True)
        end = time.monotonic() + args.seconds if args.seconds else None
        grace = None  # a session still open at the end: wait for it, within reason
        try:
            while True:
                now = time.monotonic()
                if end is not None and now >= end:
                    if not recorder.in_session:
                        break
                    grace = grace or now + 60
                    if now >= grace:
                        show(recorder.flush("the recording ended (--seconds) a minute before "
                                            "the session did"), args.json)
                        break
                try:
                    frames = board.frames(0.2)
                except PortError:
                    # The board reset (its port goes with it): a session it was sending is kept
                    # as cut, and recording carries on once the same board is back.
                    show(recorder.flush("the board reset (its port went away) mid-session"),
                         args.json)
                    reconnect(board, where, say)
                    continue
                for frame in frames:
                    late = recorder.joined_late
                    show(recorder.feed(frame), args.json)
                    if not late and recorder.joined_late and not args.json:
                        print("a session was already under way: its rest is not recorded "
                              "(earshot log lists it)", flush=True)
        except (KeyboardInterrupt, Stopped) as e:
            how = "SIGTERM" if isinstance(e, Stopped) else "Ctrl-C"
            # What arrived is kept, never dropped; the sidecar says the stop cut it off.
            cut = show(recorder.flush("the recording was stopped (%s)" % how), args.json)
            if args.seconds is not None:
                raise KeyboardInterrupt from None  # stopped before the time asked for
            if cut is not None:
                raise EarshotError("stopped (%s) in the middle of session %s: what arrived is "
                                   "kept as %s, marked truncated" % (
                                       how, cut.meta["session_id"], cut.files[0])) from None
    return 0


class Stopped(Exception):
    """SIGTERM: stop recording as Ctrl-C does."""


def show(stored, as_json):
    from ..errors import EarshotError
    from .common import print_json

    if stored is None:
        return None
    m = stored.meta
    if as_json:
        print_json(dict(m, files=[str(f) for f in stored.files]))
    else:
        what = ("%.1f s, " % (m["ms"] / 1000) if m["ms"] is not None else "") + \
            "consent %s, wake %s" % (m["consent_text"], m["wake_word"] or "-")
        kept = ", ".join(f.name for f in stored.files)
        audio = "" if m["capture"] else " (no audio kept: the consent has no retain)"
        state = ("verified" if stored.verified else
                 "TRUNCATED (cut off: %s; the part kept verified)" % m["cut"]
                 if stored.truncated else "DOES NOT VERIFY")
        print("session %s from %s: %s; %s%s; kept %s%s" % (
            m["session_id"], m["device_id"] or "?", what, state,
            ", TEST MODE" if m.get("test") else "", kept, audio), flush=True)
    if not stored.verified and not stored.truncated:
        failure = m["failure"] or ""
        if failure.startswith("header: dropped"):
            # Its own records are the board's; a session before it never reached this receiver
            # (it went to the bridge, or nobody was recording): not a key problem.
            raise EarshotError("session %s: a session the board sent before it was never "
                               "received and verified here (%s): kept as %s. It went elsewhere "
                               "(the bridge, nobody recording) or did not verify here (an "
                               "earlier record with another key); earshot log on "
                               "the board lists every session"
                               % (m["session_id"], failure, stored.files[0]))
        if failure.startswith("header: replayed"):
            raise EarshotError("session %s was received before (%s): kept as %s"
                               % (m["session_id"], failure, stored.files[0]))
        raise EarshotError("session %s does not verify with this key (%s): kept as %s; check "
                           "--key-file is this board's key" % (m["session_id"], failure,
                                                              stored.files[0]))
    return stored
