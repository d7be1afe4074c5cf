"""The dashboard's routes: pages, one Server-Sent Events stream, small POST actions.

    GET  /                    every board at a glance (links to each board's page)
    GET  /board/{id}          one board: mute, consent, streaming, controls, the verified log
    GET  /events[?board=id]   SSE: `state` (one board, as it reported itself) and `log` events
    POST /board/{id}/mute     ask the board to mute (it may; only its button unmutes)
    POST /board/{id}/consent  {"preset": name} or {"guest": true|false}: the board applies a
                              more private choice at once and holds a less private one for
                              the household's gesture
    POST /login               {"token": ...} on a LAN dashboard (guard.py)
    GET  /static/...          the page's script and style, shipped in the package

The page renders only what these events carry, which is only what the board reported
(hub/view.py); an action's reply is never taken as the new state.
"""

import html
import json
from pathlib import Path

from starlette.applications import Starlette
from starlette.responses import HTMLResponse, JSONResponse, StreamingResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from .. import legend
from .. import vocabulary as v
from ..errors import EarshotError, PortError
from ..hub.board import Changes
from . import chart
from .guard import SECURITY_HEADERS, login_endpoint

STATIC = Path(__file__).resolve().parent / "static"
KEEPALIVE_S = 15.0


def create_app(boards, guard_factory):
    """The ASGI app for `boards` ({id: hub.board.Board}), wrapped by guard_factory(app)."""
    holder = {}

    async def overview(request):
        return _page(request, holder["guard"], None, boards)

    async def board_page(request):
        board = boards.get(request.path_params["ident"])
        if board is None:
            return HTMLResponse("no such board", status_code=404)
        return _page(request, holder["guard"], board, boards)

    async def events(request):
        wanted = request.query_params.get("board")
        chosen = [boards[wanted]] if wanted in boards else list(boards.values())
        return StreamingResponse(_stream(request, chosen, wanted is not None),
                                 media_type="text/event-stream",
                                 headers={"cache-control": "no-store",
                                          "x-accel-buffering": "no"})

    async def mute(request):
        board = boards.get(request.path_params["ident"])
        if board is None:
            return _error("no such board", 404)
        return await _command(board, "mute")

    async def consent(request):
        board = boards.get(request.path_params["ident"])
        if board is None:
            return _error("no such board", 404)
        try:
            body = await request.json()
        except ValueError:
            return _error("send JSON: {\"preset\": \"private\"} or {\"guest\": true}", 400)
        by = _requester(request)
        if isinstance(body, dict) and body.get("preset") in v.PRESET_NAMES:
            return await _command(board, "consent", preset=body["preset"], by=by)
        if isinstance(body, dict) and isinstance(body.get("guest"), bool):
            return await _command(board, "consent", guest=body["guest"], by=by)
        return _error("unknown choice: a preset (%s) or guest true/false"
                      % ", ".join(v.PRESET_NAMES), 400)

    async def login(request):
        return await login_endpoint(request, holder["guard"])

    app = Starlette(routes=[
        Route("/", overview),
        Route("/board/{ident}", board_page),
        Route("/events", events),
        Route("/board/{ident}/mute", mute, methods=["POST"]),
        Route("/board/{ident}/consent", consent, methods=["POST"]),
        Route("/login", login, methods=["POST"]),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
    ])
    holder["guard"] = guard_factory(app)
    return holder["guard"]


async def _command(board, name, **args):
    try:
        reply = await board.command(name, **args)
    except PortError as e:
        # The connection, in household words: device paths and serial errors stay in the
        # terminal that runs the dashboard.
        return _error(v.link_words(str(e)), 409)
    except EarshotError as e:
        return _error(str(e), 409)
    return JSONResponse({"ok": True, "reply": reply})


def _requester(request):
    """Who asks, as the board shows it to the household while the request waits."""
    import socket

    client = request.client.host if request.client else "?"
    return ("the household page on %s (browser at %s)" % (socket.gethostname(), client))[:80]


def _error(text, status):
    return JSONResponse({"ok": False, "error": text}, status_code=status)


def _sse(kind, data):
    return "event: %s\ndata: %s\n\n" % (kind, json.dumps(data, separators=(",", ":")))


def log_payload(board):
    payload = board.view.log_json()
    payload["chart"] = chart.svg(chart.per_day(payload["timeline"]))
    payload["id"] = board.id
    return payload


async def _stream(request, chosen, with_log):
    changes = Changes()  # what changed, never the facts: a page that stops reading holds nothing
    for board in chosen:
        board.watch(changes)
    try:
        for board in chosen:
            yield _sse("state", board.view.state_json())
            if with_log:
                yield _sse("log", log_payload(board))
        by_id = {b.id: b for b in chosen}
        while True:
            pending = await changes.take(KEEPALIVE_S)
            if not pending:
                if await request.is_disconnected():
                    return
                yield ": keepalive\n\n"
                continue
            # A burst (a session's audio chunks) is one update per board.
            for ident, parts in pending.items():
                board = by_id[ident]
                if "state" in parts:
                    yield _sse("state", board.view.state_json())
                if "log" in parts and with_log:
                    yield _sse("log", log_payload(board))
    finally:
        for board in chosen:
            board.unwatch(changes)


def _page(request, guard, board, boards):
    title = "Earshot: %s" % (board.view.name if board else "all boards")
    legend_rows = "".join(
        '<tr><td><span class="swatch%s" data-rgb="%d,%d,%d"></span></td>'
        '<th scope="row">%s, %s</th><td>%s</td><td>%s</td></tr>' % (
            " off" if r.pattern == "off" else " blink" if r.pattern.startswith("blink") else "",
            *r.rgb, html.escape(r.led), html.escape(
                r.colour if r.pattern == "off" else r.colour + ", " + r.pattern),
            html.escape(r.means), html.escape(r.you_can))
        for r in legend.card())
    nav = "".join('<li><a href="/board/%s">%s</a></li>' % (html.escape(b.id),
                                                          html.escape(b.view.name))
                  for b in boards.values())
    body = (BOARD_BODY if board else OVERVIEW_BODY).format(legend=legend_rows, nav=nav)
    page = PAGE.format(title=html.escape(title), csrf=html.escape(guard.csrf),
                       board=html.escape(board.id if board else ""), body=body, nav=nav)
    return HTMLResponse(page, headers=SECURITY_HEADERS)


PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="earshot-csrf" content="{csrf}">
<meta name="earshot-board" content="{board}">
<title>{title}</title>
<link rel="stylesheet" href="/static/page.css">
<script src="/static/page.js" defer></script>
</head><body>
<a class="skip" href="#main">Skip to the page</a>
<header><a href="/" class="brand">Earshot</a><nav aria-label="Boards"><ul>{nav}</ul></nav>
</header>
<main id="main">{body}</main>
<footer><p>This page shows what the board reports about itself and the log as checked on this
computer. It never shows what a computer merely asked for.</p></footer>
</body></html>
"""

OVERVIEW_BODY = """
<h1>Microphones in this home</h1>
<p id="link-state" class="link" role="status">Connecting&hellip;</p>
<ul id="boards" class="boards" aria-live="polite"></ul>
<nav aria-label="Board pages"><ul class="boardlist">{nav}</ul></nav>
"""

BOARD_BODY = """
<p id="link-state" class="link" role="status">Connecting&hellip;</p>
<!-- first on the page while a request waits (it waits only so long, for someone who may be
     across the room); page.js moves the board's answer below the banner -->
<section aria-labelledby="confirm-h" class="card" id="confirm-card" hidden>
  <h2 id="confirm-h">Waiting for someone at the board</h2>
  <p id="confirm-by" class="confirm-by"></p>
  <p id="confirm-text" role="status" aria-live="polite"></p>
</section>
<section id="mute" class="mute unknown" aria-live="assertive" aria-atomic="true">
  <p class="mute-big" id="mute-text">Waiting for the board&hellip;</p>
  <p class="mute-small" id="mute-detail"></p>
</section>

<section aria-labelledby="consent-h" class="card">
  <h2 id="consent-h">What the microphone may do</h2>
  <p class="preset"><span id="led-swatch" class="swatch"></span>
    <span id="preset-name">&hellip;</span></p>
  <p id="led-text" class="led-text"></p>
  <ul id="flags" class="flags"></ul>
  <p id="access" class="access"></p>
  <p id="test-mode" class="test-mode" hidden></p>
</section>


<section aria-labelledby="controls-h" class="card">
  <h2 id="controls-h">Make it more private</h2>
  <p><button id="mute-now" class="danger" type="button">Mute now</button>
    <span id="unmute-note" class="note">Only the mute button on the board turns the
    microphone on again: this page has no button for that.</span></p>
  <h3>Choose a setting</h3>
  <p class="note">More private choices apply at once (and say no to a request that waits). A less
  private one waits until someone holds both buttons together on the board. A request that was
  withdrawn keeps the board from taking a new one for a few seconds.</p>
  <div id="choices" class="choices"></div>
  <p id="action-result" role="status" aria-live="polite"></p>
</section>

<section aria-labelledby="streaming-h" class="card">
  <h2 id="streaming-h">Streaming now</h2>
  <p id="streaming" aria-live="polite">&hellip;</p>
  <p id="last-session" class="note"></p>
</section>

<section aria-labelledby="ha-h" class="card" id="ha-card" hidden>
  <h2 id="ha-h">Home Assistant</h2>
  <ul id="pipelines" class="pipelines"></ul>
  <h3>Not sent</h3>
  <ul id="refusals" class="refusals"></ul>
</section>

<section aria-labelledby="log-h" class="card">
  <h2 id="log-h">What the board recorded (its transparency log)</h2>
  <div id="log-status" class="log-status" role="status"></div>
  <figure><div id="chart"></div><figcaption>Audio sent per day</figcaption></figure>
  <ol id="timeline" class="timeline" reversed></ol>
</section>

<section aria-labelledby="legend-h" class="card">
  <h2 id="legend-h">What the lights mean</h2>
  <table class="legend"><thead><tr><th scope="col"><span class="sr">light</span></th>
  <th scope="col">Looks like</th><th scope="col">It means</th><th scope="col">You can</th>
  </tr></thead><tbody>{legend}</tbody></table>
</section>
"""
