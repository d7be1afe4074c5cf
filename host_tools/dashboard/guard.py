"""Who may see the page and who may press its buttons.

- Loopback (the default): only this computer reaches the page. The Host header must name a
  loopback address, so a web page elsewhere cannot rebind its own name to 127.0.0.1 and read
  the page (DNS rebinding).
- LAN (`--lan`, required for any other address): every request needs the session cookie the
  page sets once the household typed the token printed at start-up (kept in the state
  directory, so restarting the dashboard does not ask again).
- Either way, a request that changes something (POST) must carry the page's CSRF token in a
  header, and an Origin, when the browser sends one, must be this page's own: a page on
  another site can make a browser send a POST here, but cannot read the token or set the
  header.
"""

import hashlib
import hmac
import ipaddress
import json
import os
import secrets

from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse

COOKIE = "earshot_session"
CSRF_HEADER = "x-earshot-csrf"
LOOPBACK_NAMES = {"localhost", "127.0.0.1", "::1"}
PUBLIC_PATHS = ("/login", "/static/")
MAX_BODY = 4096  # bytes of a POST body: the page's largest is a few dozen
# Scripts, styles and images come only from this page (everything ships in the package).
SECURITY_HEADERS = {"content-security-policy": "default-src 'self'; img-src 'self' data:; "
                    "frame-ancestors 'none'", "x-content-type-options": "nosniff",
                    "referrer-policy": "no-referrer", "cache-control": "no-store"}


def is_loopback(host):
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def load_token(path):
    """The LAN token: read from `path`, or made once and kept there (mode 0600)."""
    try:
        token = path.read_text().strip()
        if len(token) >= 16:
            return token
    except OSError:
        pass
    token = secrets.token_urlsafe(18)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(token + "\n")
    return token


class Guard:
    """ASGI middleware around the dashboard app."""

    def __init__(self, app, port, lan=False, token=None):
        self.app = app
        self.port = port
        self.lan = lan
        self.token = token
        self.csrf = secrets.token_urlsafe(24)
        self._session = (hmac.new(token.encode(), b"earshot dashboard session",
                                  hashlib.sha256).hexdigest() if token else None)

    def login(self, token):
        """The cookie value for a correct token, else None."""
        if self.token and hmac.compare_digest(str(token).encode(), self.token.encode()):
            return self._session
        return None

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        refusal = self._check(scope)
        if refusal is not None:
            return await refusal(scope, receive, send)
        return await self.app(scope, receive, send)

    def _check(self, scope):
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        host = headers.get("host", "")
        name = _hostname(host)
        if not self.lan and not is_loopback(name):
            return PlainTextResponse("this dashboard answers only on this computer "
                                     "(Host %r refused)" % host, status_code=421)
        path = scope["path"]
        if self.lan and not path.startswith(PUBLIC_PATHS) and not self._has_session(headers):
            if scope["method"] == "GET" and not path.startswith("/events"):
                return HTMLResponse(LOGIN_PAGE, status_code=401, headers=SECURITY_HEADERS)
            return JSONResponse({"ok": False, "error": "log in with the dashboard's token"},
                                status_code=401)
        if scope["method"] not in ("GET", "HEAD"):
            # The page sends a few bytes of JSON. Anything far larger is refused before it is
            # read: the body would be buffered whole (POST /login needs no token on a LAN).
            length = headers.get("content-length")
            if length is None and "transfer-encoding" in headers:
                return JSONResponse({"ok": False, "error": "send a Content-Length"},
                                    status_code=411)
            if length is not None and (not length.isdigit() or int(length) > MAX_BODY):
                return JSONResponse({"ok": False, "error": "request body too large"},
                                    status_code=413)
            origin = headers.get("origin")
            if origin is not None and origin != "http://" + host:
                return JSONResponse({"ok": False, "error": "request from another site refused"},
                                    status_code=403)
            if path != "/login" and not hmac.compare_digest(
                    headers.get(CSRF_HEADER, "").encode(), self.csrf.encode()):
                return JSONResponse({"ok": False, "error": "missing or wrong CSRF token: "
                                     "reload the page"}, status_code=403)
        return None

    def _has_session(self, headers):
        for part in headers.get("cookie", "").split(";"):
            name, _, value = part.strip().partition("=")
            if name == COOKIE and self._session and hmac.compare_digest(
                    value.encode(), self._session.encode()):
                return True
        return False


def _hostname(host):
    if host.startswith("["):
        return host[1:].split("]")[0]
    return host.rsplit(":", 1)[0] if ":" in host else host


LOGIN_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Earshot: enter the token</title>
<link rel="stylesheet" href="/static/page.css"></head>
<body><main class="login">
<h1>Earshot</h1>
<p>This page shows the microphone in your home. Type the token that <code>earshot
dashboard</code> printed when it started; this browser remembers it.</p>
<form id="login"><label for="token">Token</label>
<input id="token" name="token" autocomplete="off" required>
<button type="submit">Open the page</button></form>
<p id="login-error" role="alert"></p>
</main>
<script src="/static/login.js"></script>
</body></html>
"""


async def login_endpoint(request, guard):
    try:
        token = (await request.json()).get("token", "")
    except (ValueError, AttributeError, json.JSONDecodeError):
        token = ""
    value = guard.login(token)
    if value is None:
        return JSONResponse({"ok": False, "error": "wrong token"}, status_code=403)
    response = JSONResponse({"ok": True})
    response.set_cookie(COOKIE, value, max_age=365 * 24 * 3600, httponly=True,
                        samesite="strict", path="/")
    return response
