"""A board as the host process shares it: one link thread, one view, any number of listeners.

The link thread (hub.link) owns the serial port; its facts come here on the event loop, update
the view (hub.view) and go to every listener (the Wyoming bridge), in the order the board sent
them. A page's event stream is no listener of facts: it only needs to know that the view
changed (a Changes, bounded by construction), so a page that stops reading holds no audio and
nothing that grows. Commands go back through the link thread, one at a time.
"""

import asyncio
import re

from ..places import state_dir
from .dates import EntryDates
from .link import BoardLink
from .view import BoardView


class Board:
    def __init__(self, ident, port, key=None, history=None, owner="dashboard"):
        self.id = ident
        self.port = port
        self.view = BoardView(ident, port)
        self.link = BoardLink(port, key, self._from_thread, history, owner)
        self._listeners = set()
        self._watchers = set()
        self._loop = None
        self._dates = None

    async def start(self):
        """Open the port and greet the board (EarshotError if that fails), then listen."""
        self._loop = asyncio.get_running_loop()
        status = await self._loop.run_in_executor(None, self.link.connect)
        self.port = self.link.port  # the node the name resolved to
        self._dates = EntryDates(state_dir() / "log-dates" / (_slug(
            status.get("device_id") or self.port) + ".json"))
        self.link.start()
        return status

    def stop(self):
        self.link.stop()

    async def stopped(self):
        await self._loop.run_in_executor(None, self.link.join, 5.0)

    def _from_thread(self, kind, data):
        loop = self._loop
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(self.publish, kind, data)

    def publish(self, kind, data):
        """A fact about this board (on the event loop): to the view, then every listener."""
        if kind == "log" and data.get("result") is not None and self._dates is not None:
            data = dict(data, dates=self._dates.date(data["result"].entries,
                                                     data.get("uptime_ms", 0),
                                                     data["read_at"]))
        try:
            changed = self.view.apply(kind, data)
        except (LookupError, TypeError, ValueError, AttributeError):
            # An event of the wrong shape (a field that is no number, no object...): skipped
            # like noise on the line, never an exception on the loop that serves the page.
            changed = set()
        for queue in list(self._listeners):
            queue.put_nowait((self.id, kind, data, changed))
        if changed:
            for watcher in list(self._watchers):
                watcher.mark(self.id, changed)

    def listen_into(self, queue):
        """Put every later fact into `queue` as (board id, kind, data, changed view parts)."""
        self._listeners.add(queue)
        return queue

    def unlisten(self, queue):
        self._listeners.discard(queue)

    def watch(self, changes):
        """Mark in `changes` which parts of this board's view change ("state", "log")."""
        self._watchers.add(changes)
        return changes

    def unwatch(self, changes):
        self._watchers.discard(changes)

    async def command(self, name, **args):
        """Run a command on the board; its reply, or the EarshotError it raised."""
        return await asyncio.wrap_future(self.link.request(name, **args))

    async def send(self, name, **args):
        """Send a command without waiting for its reply (pipelined: the speaker's audio); its
        command number. The reply comes later as an ("event", {"ev": "reply", "re": n}) fact."""
        return await asyncio.wrap_future(self.link.request(name, _wait=False, **args))


def _slug(text):
    return re.sub(r"[^A-Za-z0-9._-]+", "_", str(text)).strip("_") or "board"


class Changes:
    """Which parts of which boards' views changed since the reader last looked: at most one
    entry per board and part, however many facts arrive in between (a session's audio is
    hundreds)."""

    def __init__(self):
        self._parts = {}
        self._ready = asyncio.Event()

    def mark(self, ident, parts):
        self._parts.setdefault(ident, set()).update(parts)
        self._ready.set()

    async def take(self, timeout):
        """{board id: parts} changed since the last take, waiting up to `timeout` seconds for
        one ({} if none)."""
        try:
            await asyncio.wait_for(self._ready.wait(), timeout)
        except asyncio.TimeoutError:
            return {}
        self._ready.clear()
        parts, self._parts = self._parts, {}
        return parts
