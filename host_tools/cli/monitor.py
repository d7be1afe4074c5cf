"""earshot monitor: a live view of what the board does (events; sessions as one-line summaries)."""

import json
import time

from .common import add_port_argument


def setup(p):
    add_port_argument(p)
    p.add_argument("--json", action="store_true", help="one JSON object per event")
    p.add_argument("--seconds", type=float, default=None, help="stop after this long")


def describe(ev):
    kind = ev.get("ev")
    if kind == "state":
        return "%-8s %s -> %s (%s)" % (ev["m"], ev["old"], ev["new"], ev["why"])
    if kind == "wake":
        return "wake     '%s' score %s" % (ev["word"], ev["score"])
    if kind == "session":
        return "session  %s ended (%s): %.1f s, %d bytes" % (ev["id"], ev["end"], ev["ms"] / 1000, ev["bytes"])
    if kind == "consent":
        return "consent  %s%s (may: %s)" % (ev["preset"], " [guest]" if ev.get("guest") else "",
                                           ", ".join(ev.get("flags") or []) or "nothing")
    if kind == "error":
        return "error    %s" % ev.get("error")
    fields = {k: v for k, v in ev.items() if k != "ev"}
    return "%-8s %s" % (kind, json.dumps(fields))


def run(args):
    from ..link.client import Client
    from ..link.protocol import T_EVENT, TYPE_NAMES
    from ..link.target import open_target

    with open_target(args.port) as port, Client(port) as board:
        status = board.hello()
        print("monitoring %s: firmware %s, %s, %s" % (
            port, status["version"], "muted" if status["muted"] else "unmuted",
            status["consent"]["preset"]), flush=True)
        end = time.monotonic() + args.seconds if args.seconds else None
        while end is None or time.monotonic() < end:
            for frame in board.frames(0.2):
                if frame.type == T_EVENT:
                    ev = frame.event()
                    line = json.dumps(ev) if args.json else describe(ev)
                elif args.json:
                    line = json.dumps({"frame": TYPE_NAMES.get(frame.type), "bytes": len(frame.payload)})
                else:
                    continue  # audio chunks: `earshot record` stores them
                print(line, flush=True)
    return 0
