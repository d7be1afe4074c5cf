"""The one thread that owns a board's serial port.

A serial port opens exclusively, and a household wants the page and the Home Assistant bridge
at the same time, so one host process owns the port and fans out what the board says
(hub.board.Board). This thread is the only code that touches the port: it reads every frame,
verifies sessions as they arrive (records.live), runs the commands the page and the bridge
ask for one at a time, and re-reads and verifies the transparency log after anything that
appends to it. Everything it learns it hands to `publish(kind, data)` as a fact:

    ("link",    {"state": "up" | "down" | "silent", "error": str | None})
    ("status",  the board's hello/status reply)
    ("event",   a board event: state, consent, confirm, wake, refused, session, boot ...)
    ("session", ("open" | "audio" | "closed" | "broken" | "refused", data))   records.live
    ("log",     {"result": LogResult, "read_at": epoch seconds, "uptime_ms": board ms})
"""

import concurrent.futures
import queue
import secrets
import threading
import time

from .. import vocabulary as v
from ..errors import EarshotError, PortError, ProtocolError
from ..link.client import Client
from ..link.protocol import T_EVENT, T_SESSION_CHUNK, T_SESSION_CLOSE, T_SESSION_HEADER
from ..records.live import LiveSession
from ..records.translog import verify_log

RETRY_S = 1.0  # a board that went away is looked for again this often
# Liveness: a port can stay open while the board behind it is gone (power cut, a hung
# firmware, a serial-over-network link whose far end died), and the page must never go on
# showing its last state as current. After QUIET_S without a frame the board is asked for its
# status; no frame at all within ANSWER_S after that and it shows as not answering (state
# unknown) until it speaks again, when it is greeted afresh.
QUIET_S = 2.0
ANSWER_S = 4.0
LOG_SETTLE_S = 0.3  # re-read the log this long after the last event that appends to it
# Events after which the board's log holds a new entry (firmware/earshot/app.py appends one
# for every mute change, consent change and session; boot may add repair/test-mode entries).
_LOG_EVENTS = {"session", "consent", "boot", "log_repair"}


class BoardLink(threading.Thread):
    def __init__(self, port, key, publish, history=None, owner="dashboard"):
        super().__init__(daemon=True, name="board-link %s" % port)
        self.port = port
        self.publish = publish  # publish(kind, data): must be safe to call from this thread
        # The receiver history `earshot record/verify/log` keep (records/history.py): a session
        # received before this process started, replayed on the line, is refused here too.
        self.history = history
        self._history_lock = history.lock if history is not None else threading.RLock()
        self.live = LiveSession(key, history=history,
                                source="live on %s (run %s)" % (port, secrets.token_hex(4)))
        self.client = None
        self.spec = port  # what the user named (--port): a node, a URL or sim:NAME
        self.where = None  # which board this is, to find it again (link/again.py)
        self._requests = queue.Queue()
        self._stopping = threading.Event()
        self._log_due = None
        self._status_due = False
        self._heard = time.monotonic()  # when the board last sent anything
        self._ping = None  # (command number, sent at) of the status asked for liveness
        self._silent = False
        self._silent_why = None  # what the page was told the board says instead of answering
        self._down_why = None  # why the page was told the board is not connected
        self._pins = []  # (seq, hash) of the head verified last: a rewritten log fails
        # Where the same board is now when its port is gone: a real ESP32-S3 re-enumerates its
        # USB port at every reset. locate(old port) -> its new port (found by USB serial number
        # or device id) or None; None here: the same port is tried again. The hook for the
        # shared "find the same board again" helper in host_tools/link.
        self.locate = None
        self.owner = owner  # who shares the port with other earshot commands (link/share.py)

    # -- called from other threads ---------------------------------------------------------

    def connect(self):
        """Open the port and greet the board; PortError/ProtocolError if that fails.

        Called once before the thread starts, so a wrong --port is a one-line error at once."""
        from ..link.again import Whereabouts

        # A board on native USB may come back from a reset under another node: it is looked
        # for by its USB serial number (link/again.py), remembered at the first connect.
        if self.where is None:
            # The user's --port (`sim:NAME` too), not the node it names now: a virtual board's
            # registration is how it is found after `earshot sim --renumerate` moved it.
            self.where = Whereabouts.of(self.spec)
            self.port = self.where.port
        else:
            self.port = self.where.locate() or self.port
        client = Client(self.port, timeout=3.0, share=self.owner)
        try:
            status = client.hello()
            self._same_board(status)
        except EarshotError:
            client.close()
            raise
        self.client = client
        return status

    def request(self, name, **args):
        """Run a board command on this thread; a Future of its reply (or EarshotError)."""
        future = concurrent.futures.Future()
        self._requests.put((name, args, future))
        return future

    def stop(self):
        self._stopping.set()

    # -- the thread --------------------------------------------------------------------------

    def run(self):
        self._status_due = self.client is not None
        while not self._stopping.is_set():
            if self.client is None:
                self._reconnect()
                continue
            try:
                if self._status_due:
                    self._ask_status()
                self._serve_requests()
                for frame in self.client.frames(0.05):
                    self._frame(frame)
                self._check_alive()
                if self._log_due is not None and time.monotonic() >= self._log_due \
                        and self.live.info is None and not self._silent:
                    self._read_log()  # never in the middle of a session: audio first
            except PortError as e:
                self._lost(str(e))
            except (LookupError, TypeError, ValueError, AttributeError) as e:
                # An event or reply of the wrong shape. This thread is the page's only source:
                # were it to stop, the page would go on showing the last state as current. The
                # board shows as not connected (state unknown) and is greeted again.
                self._lost("the board sent something this earshot cannot read (%s: %s)"
                           % (type(e).__name__, e))
                self._stopping.wait(RETRY_S)
        if self.client is not None:
            self.client.close()
        self._fail_requests("the dashboard is stopping")

    def _reconnect(self):
        try:
            self._greeted(self.connect())
        except EarshotError as e:
            moved = self.locate(self.port) if self.locate is not None else None
            if moved and moved != self.port:
                self.port = moved  # the same board, elsewhere: greeted there at once
                return
            if v.link_words(str(e)) != v.link_words(self._down_why):
                # What stops it now (back at the REPL after a reset on native USB, busy with
                # another program...), not only what took it away, is what the page says.
                self._down_why = str(e)
                self.publish("link", {"state": "down", "error": str(e)})
            self._fail_requests(str(e))
            self._stopping.wait(RETRY_S)

    def _ask_status(self):
        try:
            status = self.client.command("status")
        except ProtocolError:
            self._stopping.wait(0.2)  # still booting: ask again on the next turn
            return
        try:
            self._same_board(status)
        except EarshotError as e:
            self._lost(str(e))  # another board now answers on this port: not received
            self._stopping.wait(RETRY_S)
            return
        self._greeted(status)

    def _same_board(self, status):
        """Refuse (EarshotError) a board that calls itself a device id this computer gave
        another chip (records/history.py not_the_board): nothing of it is received."""
        if self.history is not None:
            with self._history_lock:
                refused = self.history.not_the_board(status)
            if refused:
                raise EarshotError(refused)

    def _greeted(self, status):
        self._status_due = False
        self._heard = time.monotonic()
        self._ping = None
        self._silent = False
        if self.client is not None:
            self.client.forget_talk()  # what it says if it goes silent is said from now on
        self.publish("link", {"state": "up", "error": None})
        self.publish("status", _plain(status))
        self._log_due = time.monotonic()

    def _lost(self, why):
        self._session_facts(self.live.abandon("truncated: the board went away"))
        if self.client is not None:
            self.client.close()
            self.client = None
        self._down_why = why
        self.publish("link", {"state": "down", "error": why})

    def _check_alive(self):
        now = time.monotonic()
        if self._ping is None:
            if now - self._heard >= QUIET_S:
                self._ping = (self.client.send("status"), now)
            return
        if now - self._ping[1] < ANSWER_S:
            return
        self._ping = None  # asked again at once: every ANSWER_S while it stays silent
        self._went_silent()

    def _went_silent(self):
        # A board that restarted into the MicroPython REPL (or another protocol version) says
        # so on the line: that, not plain silence, is why it does not answer (also when it
        # says so only after it fell silent: this runs every ANSWER_S while it stays silent).
        other = self.client.other_talk() if self.client is not None else None
        if self._silent:
            if other and other != self._silent_why:
                self._silent_why = other
                self.publish("link", {"state": "silent", "error": other})
            return
        self._silent, self._silent_why = True, other
        self._session_facts(self.live.abandon("truncated: the board stopped answering"))
        self.publish("link", {"state": "silent", "error": other or
                              "no answer from the board for %.0f s"
                              % (time.monotonic() - self._heard)})

    def _serve_requests(self):
        while True:
            try:
                name, args, future = self._requests.get_nowait()
            except queue.Empty:
                return
            if not future.set_running_or_notify_cancel():
                continue
            wait = args.pop("_wait", True)
            try:
                if not wait:
                    # Pipelined (the speaker's audio): the number now, the reply as an event.
                    future.set_result(self.client.send(name, **args))
                    continue
                reply = self.client.command(name, **args)
            except ProtocolError as e:
                future.set_exception(e)
                continue
            except PortError as e:
                future.set_exception(e)
                raise
            self._heard = time.monotonic()
            future.set_result(_plain(reply))
            if name in ("mute", "consent"):
                self._log_due = time.monotonic() + LOG_SETTLE_S

    def _fail_requests(self, why):
        while True:
            try:
                _, _, future = self._requests.get_nowait()
            except queue.Empty:
                return
            if future.set_running_or_notify_cancel():
                future.set_exception(PortError(why))

    def _frame(self, frame):
        self._heard = time.monotonic()
        if self._silent:
            self._status_due = True  # it speaks again: greet it afresh, never resume old state
        if frame.type == T_EVENT:
            try:
                ev = frame.event()
            except ValueError:
                return
            self.publish("event", ev)
            kind = ev.get("ev")
            if self._ping and kind == "reply" and ev.get("re") == self._ping[0]:
                self._ping = None
                if not self._silent:
                    self.publish("status", _plain(ev))  # and the page stays in step
            if kind == "boot":
                # A reset: ask again for everything the board holds (consent, identity);
                # a session it was sending will never be closed.
                self._status_due = True
                self._session_facts(self.live.abandon("truncated: the board restarted"))
            if kind == "log_repair":
                self._status_due = True  # acknowledged at the board: its LED stops flickering
            if kind in _LOG_EVENTS or (kind == "state" and ev.get("m") == "mute"):
                self._log_due = time.monotonic() + LOG_SETTLE_S
        elif frame.type in (T_SESSION_HEADER, T_SESSION_CHUNK, T_SESSION_CLOSE):
            with self._history_lock:
                facts = self.live.feed(frame.payload)
                self._save_history()
            self._session_facts(facts)

    def _save_history(self):
        if self.live.remembered:
            self.live.remembered = False
            try:
                self.history.save()
            except EarshotError as e:  # a full disk: this run still remembers, in memory
                self.publish("refusal", {"who": "receiver history", "text": str(e)})

    def _session_facts(self, facts):
        for fact in facts:
            self.publish("session", fact)

    def _read_log(self):
        self._log_due = None
        try:
            data, reply = self.client.read_log(quiet=ANSWER_S)
            status = self.client.command("status")
        except ProtocolError as e:
            self.publish("log", {"result": None, "error": str(e)})
            if not self.client.backlog and time.monotonic() - self._heard >= ANSWER_S:
                self._went_silent()  # nothing at all came back: the board is not answering
            return
        self._heard = time.monotonic()
        result = verify_log(data, pins=self._pins)
        if result.ok and result.entries and list(result.head) != list(reply["head"]):
            result.error = ("the board says its log ends at #%s, but the chain it sent ends "
                            "at #%s" % (reply["head"][0], result.head[0]))
        if result.ok and result.entries:
            self._pins = [tuple(result.head)]
        self.publish("log", {"result": result, "read_at": time.time(),
                             "uptime_ms": status.get("uptime_ms", 0),
                             "repair": (status.get("log") or {}).get("repair")})


def _plain(reply):
    return {k: v for k, v in reply.items() if k not in ("ev", "re", "ok")}
