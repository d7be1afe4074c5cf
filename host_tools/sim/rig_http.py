"""A virtual board's rig over HTTP: what a lab wires around a real board, on the network.

`earshot sim --rig HOST:PORT` serves it, so a labgrid exporter can offer the virtual board as a
place with stock labgrid resources (docs/hil-rig.md), just like a network relay and a GPIO box
next to a real board:

    PUT /power/0        "1" on, "0" off         labgrid NetworkPowerPort, model "rest"
    PUT /out/mute       "1" pressed, "0" up     labgrid HttpDigitalOutput (one per button)
    PUT /out/action
    PUT /out/reset      "1" EN held low, "0" released (the chip boots): HttpDigitalOutput
    GET any of these    "1" or "0", the line's state now
    GET /probe          {"t": board s, "pins": {...}}           the pin probe (earshot's
    GET /probe/edges?since=T  {"t": ..., "edges": [[t, name, v]]}  labgrid driver, hil/lab.py)

Every request goes through the control socket's handler (sim/control.py), so `earshot press`,
`earshot power` and this rig act on the board the same way. Errors are HTTP 400 with one line.
"""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from ..errors import EarshotError

_BUTTONS = ("mute", "action")


class RigServer:
    def __init__(self, control, host="127.0.0.1", port=0):
        self.control = control  # a ControlServer: handle(request dict) -> reply dict
        handler = type("Handler", (_Handler,), {"rig": self})
        try:
            self._httpd = ThreadingHTTPServer((host, port), handler)
        except OSError as e:
            raise EarshotError("--rig %s:%s: cannot listen there (%s)" % (host, port,
                                                                         e.strerror or e)) from None
        self._httpd.daemon_threads = True
        self.url = "http://%s:%d" % (host, self._httpd.server_address[1])
        threading.Thread(target=self._httpd.serve_forever, daemon=True, name="sim-rig").start()

    def close(self):
        self._httpd.shutdown()
        self._httpd.server_close()

    # -- lines -----------------------------------------------------------------------------

    def get(self, path, query):
        board = self.control.board
        if path == "/power/0":
            return "1" if board.powered else "0"
        if path == "/out/reset":
            return "1" if board.in_reset else "0"
        if path.startswith("/out/") and path[5:] in _BUTTONS:
            return "1" if board.buttons()[path[5:]] else "0"
        if path == "/probe":
            r = self.control.handle({"op": "pins"})
            return json.dumps({"t": r["sim_time_s"], "pins": r["pins"], "powered": r["powered"]})
        if path == "/probe/edges":
            since = float(query.get("since", ["0"])[0])
            r = self.control.handle({"op": "edges", "since": since})
            return json.dumps({"t": r["sim_time_s"], "edges": r["edges"]})
        raise KeyError(path)

    def put(self, path, body):
        if body not in ("0", "1"):
            raise EarshotError("send 1 or 0, not %r" % body[:20])
        on = body == "1"
        if path == "/power/0":
            self.control.handle({"op": "power", "action": "on" if on else "off"})
        elif path == "/out/reset":
            self.control.handle({"op": "reset", "held": on})
        elif path.startswith("/out/") and path[5:] in _BUTTONS:
            self.control.handle({"op": "hold" if on else "release", "button": path[5:]})
        else:
            raise KeyError(path)
        return body


class _Handler(BaseHTTPRequestHandler):
    rig = None  # set per server
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        url = urlsplit(self.path)
        self._answer(lambda: self.rig.get(url.path, parse_qs(url.query)))

    def do_PUT(self):
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n).decode("ascii", "replace").strip()
        self._answer(lambda: self.rig.put(urlsplit(self.path).path, body))

    do_POST = do_PUT

    def _answer(self, fn):
        try:
            status, text = 200, fn()
        except KeyError:
            status, text = 404, "no such line: %s" % self.path
        except (EarshotError, ValueError) as e:
            status, text = 400, str(e)
        data = text.encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json" if text[:1] == "{" else "text/plain")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, fmt, *args):
        pass  # a rig is quiet; the board's own output is what matters
