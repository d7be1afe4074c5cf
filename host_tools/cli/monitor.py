"""earshot monitor: a live view of what the board does (events; sessions as one-line summaries)."""

import json
import time

from .common import SECONDS, add_port_argument


def setup(p):
    add_port_argument(p)
    p.add_argument("--json", action="store_true",
                   help="one JSON object per event (and per session record: type and size)")
    p.add_argument("--seconds", type=SECONDS, default=None, metavar="S",
                   help="stop after S seconds (default: until Ctrl-C)")


def describe(ev):
    from ..vocabulary import board_clock, consent_text

    kind = ev.get("ev")
    t = "[%s] " % board_clock(ev["t"]).strip() if "t" in ev else ""
    if kind == "state":
        return "%s%-8s %s -> %s (%s)" % (t, ev["m"], ev["old"], ev["new"], ev["why"])
    if kind == "wake":
        return "%swake     '%s' score %s" % (t, ev["word"], ev["score"])
    if kind == "session":
        return "%ssession  %s ended (%s): %.1f s, %d bytes" % (
            t, ev["id"], ev["end"], ev["ms"] / 1000, ev["bytes"])
    if kind == "consent":
        return "%sconsent  %s" % (t, consent_text(ev.get("flags") or [], ev.get("guest"),
                                                  ev.get("preset")))
    if kind == "confirm" and ev.get("state") == "waiting":
        return "%sconfirm  %s %s waits for both buttons held together (%s s)" % (
            t, ev.get("what"), ev.get("target"), ev.get("seconds"))
    if kind == "confirm" and ev.get("outcome"):
        return "%sconfirm  %s %s: %s" % (t, ev.get("what"), ev.get("target"), ev["outcome"])
    if kind == "error":
        return "%serror    %s" % (t, ev.get("error"))
    fields = {k: v for k, v in ev.items() if k not in ("ev", "t")}
    return "%s%-8s %s" % (t, kind, json.dumps(fields))


def run(args):
    from ..link.client import Client
    from ..link.protocol import T_EVENT, TYPE_NAMES
    from ..link.target import resolve
    from ..vocabulary import consent_text

    from ..errors import PortError
    from ..link.again import Whereabouts, reconnect

    port = resolve(args.port).port

    def say(text):
        print(json.dumps({"ev": "port", "text": text}) if args.json else "port     " + text,
              flush=True)

    with Client(port, share="monitor") as board:
        status = board.hello()
        where = Whereabouts.of(args.port)  # to find the same board again after a reset
        c = status["consent"]
        if not args.json:
            print("monitoring %s: firmware %s, %s, consent %s" % (
                port, status["version"], "muted" if status["muted"] else "unmuted",
                consent_text(c["flags"], c["guest"], c["preset"])), flush=True)
        end = time.monotonic() + args.seconds if args.seconds else None
        while end is None or time.monotonic() < end:
            try:
                frames = board.frames(0.2)
            except PortError:
                reconnect(board, where, say)  # the board reset: its port came back, maybe renamed
                continue
            for frame in frames:
                if frame.type == T_EVENT:
                    ev = frame.event()
                    line = json.dumps(ev) if args.json else describe(ev)
                elif args.json:
                    line = json.dumps({"frame": TYPE_NAMES.get(frame.type),
                                       "bytes": len(frame.payload)})
                else:
                    continue  # audio chunks: `earshot record` keeps them
                print(line, flush=True)
    return 0
