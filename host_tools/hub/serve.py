"""Run the household's services in one process: the boards' links, the page, the bridge.

`earshot dashboard` and `earshot bridge` both come here; each alone works, and one process can
run both (`earshot dashboard --port P --wyoming tcp://...`), so the page shows the bridge's
refusals and the board's port has one owner.
"""

import asyncio
import contextlib
import signal
import socket
import sys

from ..errors import EarshotError


def run(ports, key=None, sock=None, lan=False, pipelines=(), allow=(), zeroconf=None,
        out=print, history=None, test_sessions=False, area=None):
    """Blocks until Ctrl-C or SIGTERM; EarshotError for anything the user can fix.

    `sock`: the dashboard's listening socket (listen()), or None for no page. `history`: the
    receiver history file (None: the default one) every verified session is checked against
    and remembered in."""
    if key is not None:
        from ..records.history import History

        history = History.load(history)  # not ours: a one-line error before anything starts
    else:
        history = None  # nothing is verified, so nothing is remembered
    try:
        asyncio.run(_serve(ports, key, sock, lan, list(pipelines), list(allow), zeroconf, out,
                           history, test_sessions, area))
    except KeyboardInterrupt:
        pass
    finally:
        if sock is not None:
            sock.close()
    return 0


async def _serve(ports, key, sock, lan, pipelines, allow, zeroconf, out, history,
                 test_sessions, area=None):
    from .board import Board

    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    owner = "dashboard" if sock is not None else "bridge"  # named to a command it shares with
    boards = {str(i): Board(str(i), port, key, history, owner)
              for i, port in enumerate(ports, 1)}
    started, closers = [], []
    try:
        for board in boards.values():
            status = await board.start()
            started.append(board)
            out("board %s: %s on %s (firmware %s)" % (
                board.id, status.get("device_id") or "not provisioned", board.port,
                status.get("version")))
        if sock is not None:
            closers.append(await _dashboard(boards, sock, lan, out))
        if pipelines:
            from ..bridge.satellite import Bridge

            bridge = Bridge(boards["1"], pipelines, allow=allow,
                            test_sessions=test_sessions, area=area)
            await bridge.start()
            closers.append(bridge.stop)
            for p in pipelines:
                out("wyoming: %s" % p.describe())
            if zeroconf is not None:
                closers.append(await _announce(pipelines, zeroconf, out))
        sys.stdout.flush()
        await stop.wait()
        out("stopping")
    finally:
        for close in reversed(closers):
            with contextlib.suppress(Exception):
                await close()
        for board in started:
            board.stop()
        for board in started:
            await board.stopped()


def listen(bind, lan):
    """The dashboard's listening socket, before any board is touched: a wrong --bind fails first."""
    from ..dashboard.guard import is_loopback

    host, port = bind
    if not is_loopback(host) and not lan:
        raise EarshotError("--bind %s:%d is reachable from other computers: add --lan (the "
                           "page then asks for a token once), or bind 127.0.0.1" % (host, port))
    try:
        return socket.create_server((host, port), family=socket.AF_INET6 if ":" in host
                                    else socket.AF_INET)
    except OSError as e:
        raise EarshotError("cannot listen on %s:%d: %s (is another dashboard running? choose "
                           "--bind %s:PORT)" % (host, port, e.strerror or e, host)) from None


async def _dashboard(boards, sock, lan, out):
    import uvicorn

    from ..dashboard.app import create_app
    from ..dashboard.guard import Guard, load_token
    from ..places import state_dir

    host, actual = sock.getsockname()[:2]
    token = load_token(state_dir() / "dashboard-token") if lan else None
    app = create_app(boards, lambda a: Guard(a, actual, lan=lan, token=token))
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off",
                            timeout_graceful_shutdown=1)
    server = uvicorn.Server(config)
    server.capture_signals = contextlib.nullcontext  # this process stops everything at once
    task = asyncio.create_task(server.serve(sockets=[sock]), name="dashboard")
    shown = "[%s]" % host if ":" in host else host
    out("dashboard: http://%s:%d/" % (shown, actual))
    if lan:
        out("dashboard token: %s (the page asks for it once)" % token)

    async def close():
        server.should_exit = True
        with contextlib.suppress(Exception):
            await asyncio.wait_for(task, 3)
        sock.close()

    return close


async def _announce(pipelines, name, out):
    try:
        from wyoming.zeroconf import HomeAssistantZeroconf
    except ImportError:
        raise EarshotError("--zeroconf needs the zeroconf package: pip install "
                           "'earshot[zeroconf]'") from None
    from urllib.parse import urlparse

    zcs = []
    for p in pipelines:
        u = urlparse(p.uri)
        if u.scheme != "tcp":
            continue
        host = None if u.hostname in ("0.0.0.0", "::") else u.hostname
        try:
            zc = HomeAssistantZeroconf(port=u.port, name=(name or "earshot") + "-" + p.name,
                                       host=host)
            await zc.register_server()
        except OSError as e:
            raise EarshotError("--zeroconf: cannot announce %s: %s" % (p.uri, e)) from None
        zcs.append(zc)
        out("zeroconf: announced %s as _wyoming._tcp (%s)" % (p.uri, zc.name))

    async def close():
        for zc in zcs:
            with contextlib.suppress(Exception):
                await zc._aiozc.async_close()

    return close
