"""The control socket of a running `earshot sim`: the physical world, from other terminals.

`earshot press/play/pins/power` send one JSON request line and read one JSON reply line on
the Unix socket the simulator published in its registration (sim/runs.py):

    {"op": "press", "button": "mute", "seconds": 0.1} -> {"ok": true, "sim_time_s": 3.46, ...}
    {"op": "play", "pcm": <base64>, "wait": false}     -> {"ok": true, "seconds": 2.4,
                                                           "ends_at_s": 14.2}
    {"op": "pins"}                                     -> {"ok": true, "pins": {...},
                                                           "buttons": {...}, "powered": true}
    {"op": "power", "action": "off" | "on" | "cycle"}  -> {"ok": true, "powered": false}
    {"op": "power", "action": "cycle", "hold": "action", "seconds": 3}
                                                       -> the button held while it starts
    {"op": "hold" | "release", "button": "mute"}       -> {"ok": true, "buttons": {...}}
    {"op": "reset", "held": true | false}              -> the EN line: held, or released (boots)
    {"op": "host_stall", "ms": 2000}                   -> the host stops reading for 2 s (its
                                                          port held open): {"ok": true, ...}
    {"op": "edges", "since": 12.5}                     -> {"ok": true, "edges": [[t, name, v]],
                                                           "sim_time_s": 14.2}
    {"op": "speaker", "since": 12.5}                   -> {"ok": true, "frames": [[t, n]],
                                                           "pcm": <base64>, "seconds": 1.2}
                                                           what the speaker played since then
    anything wrong                                     -> {"ok": false, "error": "one line"}

Times are the simulator's audio clock (seconds since it started), not the firmware's uptime.
"""

import base64
import json
import socket
import threading

from ..errors import EarshotError
from .board import BOOT_HOLD_S


class ControlServer:
    """Serves one VirtualBoard's world on a Unix socket, one thread per connection."""

    def __init__(self, board, path):
        self.board = board
        self.path = str(path)
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._sock.bind(self.path)
        self._sock.listen(4)
        self._closed = False
        threading.Thread(target=self._accept, daemon=True, name="sim-control").start()

    def close(self):
        self._closed = True
        self._sock.close()

    def _accept(self):
        while not self._closed:
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn):
        with conn, conn.makefile("rwb") as f:
            for line in f:
                try:
                    reply = dict(self.handle(json.loads(line)), ok=True)
                except EarshotError as e:
                    reply = {"ok": False, "error": str(e)}
                except (ValueError, KeyError, TypeError) as e:
                    reply = {"ok": False, "error": "bad control request: %s" % e}
                f.write(json.dumps(reply).encode() + b"\n")
                f.flush()

    def handle(self, req):
        b = self.board
        op = req["op"]
        if op == "press":
            seconds = float(req.get("seconds", 0.1))
            if not 0.02 <= seconds <= 60:
                raise EarshotError("--seconds %g: hold a button between 0.02 and 60 s" % seconds)
            after = float(req.get("after", 0))
            if not 0 <= after <= 60:
                raise EarshotError("--after %g: start the press 0 to 60 s from now" % after)
            end = b.press(req["button"], seconds, after=after)
            return {"button": req["button"], "seconds": seconds, "sim_time_s": end}
        if op == "play":
            pcm = base64.b64decode(req["pcm"])
            ends = b.play(pcm, live=req.get("live", False))
            if req.get("wait"):
                b.wait_audio_done(timeout=len(pcm) / 32000 * 4 + 30)
            return {"seconds": len(pcm) / 32000, "ends_at_s": ends}
        if op == "pins":
            pins = b.pins()
            return {"pins": dict(pins, status_led=list(pins.get("status_led", (0, 0, 0)))),
                    "buttons": b.buttons(), "sim_time_s": b.time_s, "powered": b.powered,
                    "in_reset": b.in_reset}
        if op == "power":
            action = req["action"]
            if req.get("hold"):
                if action not in ("on", "cycle"):
                    raise EarshotError("power %s --hold: a button can only be held while the "
                                       "board starts (on or cycle)" % action)
                seconds = float(req.get("seconds", BOOT_HOLD_S))
                if not 0.1 <= seconds <= 60:
                    raise EarshotError("--seconds %g: hold between 0.1 and 60 s" % seconds)
                b.boot_holding(req["hold"], action, seconds)
                return {"powered": b.powered, "held": req["hold"], "sim_time_s": b.time_s}
            if action == "off":
                b.power_cut()
            elif action == "on":
                b.power_on()
            elif action == "cycle":
                b.hard_reset()
            else:
                raise EarshotError("power %r: use on, off or cycle" % action)
            return {"powered": b.powered}
        if op in ("hold", "release"):
            getattr(b, op)(req["button"])
            return {"buttons": b.buttons(), "sim_time_s": b.time_s}
        if op == "reset":
            b.hold_in_reset(bool(req["held"]))
            return {"in_reset": b.in_reset, "powered": b.powered}
        if op == "host_stall":
            b.host_stops_reading(float(req["ms"]))
            return {"sim_time_s": b.time_s, "ms": float(req["ms"])}
        if op == "edges":
            since = float(req.get("since", 0.0))
            return {"edges": [[t, name, list(v) if isinstance(v, tuple) else v]
                              for t, name, v in b.edges(since)], "sim_time_s": b.time_s}
        if op == "speaker":
            played = b.speaker_played(float(req.get("since", 0.0)))
            pcm = b"".join(p for _, p in played)
            return {"frames": [[t, len(p)] for t, p in played], "seconds": len(pcm) / 32000,
                    "pcm": base64.b64encode(pcm).decode(), "sim_time_s": b.time_s}
        raise EarshotError("unknown control request %r" % op)


def request(info, op, timeout=120, **fields):
    """Send one request to the running simulator `info` (a registration); the reply dict."""
    path = info.get("control")
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    try:
        s.connect(path)
        with s, s.makefile("rwb") as f:
            f.write(json.dumps(dict(fields, op=op)).encode() + b"\n")
            f.flush()
            line = f.readline()
    except (OSError, TypeError) as e:
        raise EarshotError("cannot reach virtual board %r on its control socket (%s): is its "
                           "earshot sim still running?" % (info.get("name"), e)) from None
    if not line:
        raise EarshotError("virtual board %r closed its control socket" % info.get("name"))
    reply = json.loads(line)
    if not reply.get("ok"):
        raise EarshotError(reply.get("error") or "virtual board %r refused" % info.get("name"))
    return reply
