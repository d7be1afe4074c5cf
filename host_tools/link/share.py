"""One board, many earshot commands: the process that owns a board's port shares it.

A serial port opens exclusively, so while the dashboard, the bridge, `earshot monitor` or
`earshot record` holds a board, every other earshot command would find it busy. The owner
therefore serves a Unix-domain socket (mode 0600) that speaks the board's own protocol
(docs/protocol.md): command lines in, frames out. A command that finds the port busy reaches
the board through it (Client.ensure_connected), with the same one-line errors and the same
rules as on the cable, because the board itself answers every command:

- each client's commands go to the board under the owner's command numbers (so replies, and
  a request's later `confirm`, go back to the client that asked, under its own number);
  `cancel re=N` can only name the client's own request;
- every other event and every session frame the board sends goes to every client (a recorder
  through the owner receives and verifies the same signed sessions); the lines of a log
  transfer go to the one who asked for it, and transfers take turns;
- a client's malformed line is answered by the error the board would give, without reaching
  the board; a client that reads too slowly is dropped (its queue is bounded), and one that
  goes away has its waiting request withdrawn, as Ctrl-C does on the cable.

Owners register in `<home>/run/share/<port>.json` (home as in sim/runs.py) while they hold
`<port>.lock`; a registration whose lock nobody holds is stale and ignored and removed.
"""

import collections
import fcntl
import json
import os
import re
import selectors
import socket
import sys
import tempfile
import threading
import time
import zlib
from pathlib import Path

from ..errors import ProtocolError
from .protocol import T_EVENT, VERSION, encode_frame

MAX_LINE = 1024  # the board's own limit on a command line (firmware/earshot/proto.py)
MAX_QUEUE = 4 << 20  # bytes queued for one client (about two minutes of session audio)
MAX_ROUTES = 4096  # command numbers remembered for routing replies and confirmations
# A log transfer the board has sent nothing of for this long is over: its reply was lost (a
# frame with a bad checksum is dropped) or its asker gave up; others may then ask for theirs.
LOG_SILENCE_S = 15.0
_noted = set()  # ports this process already said it reaches through an owner


def share_dir():
    from ..sim.runs import home

    return home() / "run" / "share"


def _slug(port):
    real = os.path.realpath(port) if "://" not in port and os.path.exists(port) else port
    return re.sub(r"[^A-Za-z0-9._-]+", "_", real).strip("_")[:80] or "port", real


# -- the owner's side ---------------------------------------------------------------------------


class _Conn:
    def __init__(self, sock):
        self.sock = sock
        self.inbuf = bytearray()
        self.out = bytearray()
        self.mine = {}  # client's command number -> owner's
        self.waiting = set()  # owner's numbers of this client's requests that wait for a button
        self.dropped = None


class Share:
    """Serves the port `client` holds to other earshot commands; close() stops it."""

    def __init__(self, client, owner):
        self.client = client
        self.owner = owner  # "dashboard", "bridge", "monitor", "record": said to each client
        self.path = self.sock_path = None
        self._fd = self._listen = None
        self._lock = threading.RLock()
        self._conns = []
        self._routes = collections.OrderedDict()  # owner's number -> (conn, client's number)
        self._log = None  # (conn or None for the owner, owner's number) of the log transfer
        self._log_heard = 0.0  # when that transfer last sent something (time.monotonic())
        self._held = []  # (conn, client's number, args): log commands waiting their turn
        self._last_seq = 0
        self._info = {}
        self._stopping = threading.Event()
        self._wake_r, self._wake_w = socket.socketpair()
        # Never blocking: the owner's reading thread wakes the share while it holds the lock
        # that the share's thread may be waiting on; a blocking send into a full wake socket
        # (a few hundred one-byte sends fill it) would stop both for good. A full socket
        # already means "wake up", so a send that would block is simply dropped.
        self._wake_w.setblocking(False)
        self._thread = None

    def start(self):
        """Register and listen; False (nothing shared) if that is not possible here."""
        slug, real = _slug(self.client.port)
        d = share_dir()
        try:
            d.mkdir(parents=True, exist_ok=True)
            self._fd = os.open(d / (slug + ".lock"), os.O_RDWR | os.O_CREAT, 0o600)
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            sock_path = d / (slug + ".sock")
            if len(str(sock_path)) > 100:  # sun_path holds 108 bytes
                sock_path = Path(tempfile.mkdtemp(prefix="earshot-share-")) / "board.sock"
            if sock_path.exists() or sock_path.is_symlink():
                sock_path.unlink()
            self._listen = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            old = os.umask(0o177)  # 0600 from the start: no moment in which others may connect
            try:
                self._listen.bind(str(sock_path))
            finally:
                os.umask(old)
            self._listen.listen(8)
            self._listen.setblocking(False)
        except OSError:
            self.close()
            return False
        self.sock_path = sock_path
        self.path = d / (slug + ".json")
        self._info = {"port": self.client.port, "real": real, "socket": str(sock_path),
                      "owner": self.owner, "pid": os.getpid(), "device_id": None}
        self._publish()
        self.client.taps.append(self._tap)
        self._thread = threading.Thread(target=self._serve, daemon=True,
                                        name="share %s" % self.client.port)
        self._thread.start()
        return True

    def identify(self, device_id):
        if self.path is not None and device_id and device_id != self._info.get("device_id"):
            self._info["device_id"] = device_id
            self._publish()

    def _publish(self):
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self._info, indent=1) + "\n")
        os.replace(tmp, self.path)

    def close(self):
        self._stopping.set()
        self._wake()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(2.0)
        if self._tap in self.client.taps:
            self.client.taps.remove(self._tap)
        with self._lock:
            for conn in self._conns:
                conn.sock.close()
            self._conns = []
        for path in (self.path, self.sock_path):
            if path is not None:
                try:
                    path.unlink()
                except OSError:
                    pass
        if self._listen is not None:
            self._listen.close()
            self._listen = None
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        self._wake_r.close()
        self._wake_w.close()

    # -- what the owner itself does (called by its Client) --------------------------------------

    def owner_log(self, write):
        """The owner's own `log` command: `write()` sends it and returns its number. Checked,
        sent and claimed under the share's lock, so no client's transfer starts in between;
        while a client's runs the board would refuse a second, and so does this. (The owner
        goes before clients' log commands that wait their turn: they wait one transfer more.)"""
        with self._lock:
            self._log_expired()
            # (The owner's own earlier one, still marked, lost its reply: it is over.)
            if self._log is not None and self._log[0] is not None:
                raise ProtocolError("board refused log: a log transfer is already running")
            seq = write()
            self._claim_log(None, seq)
            return seq

    def log_busy(self):
        """A client's log transfer runs or waits its turn (the owner's own waits for it)."""
        with self._lock:
            self._log_expired()
            return (self._log is not None and self._log[0] is not None) or bool(self._held)

    def _claim_log(self, conn, seq):
        self._log = (conn, seq)
        self._log_heard = time.monotonic()

    def _log_expired(self):
        """Forget a transfer the board has been silent about for LOG_SILENCE_S (lock held)."""
        if self._log is not None and time.monotonic() - self._log_heard > LOG_SILENCE_S:
            self._log = None
            self._wake()

    # -- frames from the board (the owner's reading thread) -------------------------------------

    def _tap(self, data, frames):
        with self._lock:
            if not self._conns:
                self._after_frames(frames)
                return
            for frame in frames:
                self._last_seq = frame.seq
                if frame.type != T_EVENT:
                    self._to_all(encode_frame(frame.type, frame.seq, frame.payload))
                    continue
                ev = frame.event()
                re_ = ev.get("re")
                kind = ev.get("ev")
                if kind == "log":
                    self._log_heard = time.monotonic()
                    if self._log is not None and self._log[0] is not None:
                        self._queue(self._log[0], encode_frame(T_EVENT, frame.seq, frame.payload))
                    continue
                if re_ is None:
                    self._to_all(encode_frame(T_EVENT, frame.seq, frame.payload))
                    continue
                route = self._routes.get(re_) if isinstance(re_, int) else None
                if route is not None:
                    conn, theirs = route
                    if kind == "reply" and ev.get("result") == "needs_confirmation":
                        conn.waiting.add(re_)
                    elif kind in ("error", "confirm") and (kind == "error" or ev.get("outcome")):
                        conn.waiting.discard(re_)
                    if conn.dropped is None:
                        payload = json.dumps(dict(ev, re=theirs), separators=(",", ":"))
                        self._queue(conn, encode_frame(T_EVENT, frame.seq, payload.encode()))
            self._after_frames(frames)

    def _after_frames(self, frames):
        for frame in frames:
            if frame.type != T_EVENT or self._log is None:
                continue
            ev = frame.event()
            if ev.get("ev") == "boot" or (ev.get("re") == self._log[1]
                                          and ev.get("ev") in ("reply", "error")):
                self._log = None  # over (a board that starts again ends any transfer)
                self._wake()  # a held log command may go now

    def _to_all(self, data):
        for conn in self._conns:
            self._queue(conn, data)

    def _queue(self, conn, data):
        if conn.dropped is not None:
            return
        if len(conn.out) + len(data) > MAX_QUEUE:
            conn.dropped = "it read too slowly"
            conn.out.clear()
        else:
            conn.out += data
        self._wake()

    def _wake(self):
        try:
            self._wake_w.send(b"x")
        except OSError:  # BlockingIOError: a wake-up is already waiting
            pass

    # -- the clients (this share's own thread) ----------------------------------------------

    def _serve(self):
        sel = selectors.DefaultSelector()
        sel.register(self._listen, selectors.EVENT_READ, "listen")
        sel.register(self._wake_r, selectors.EVENT_READ, "wake")
        try:
            while not self._stopping.is_set():
                for key, mask in sel.select(0.5):
                    if key.data == "listen":
                        self._accept(sel)
                    elif key.data == "wake":
                        try:
                            self._wake_r.recv(4096)
                        except OSError:
                            pass
                    else:
                        self._ready(sel, key.data, mask)
                self._release_held()
                with self._lock:
                    for conn in list(self._conns):
                        if conn.dropped is not None:
                            self._drop(sel, conn)
                        else:
                            want = selectors.EVENT_READ | (selectors.EVENT_WRITE if conn.out else 0)
                            if sel.get_key(conn.sock).events != want:
                                sel.modify(conn.sock, want, conn)
        finally:
            sel.close()

    def _accept(self, sel):
        try:
            sock, _ = self._listen.accept()
        except OSError:
            return
        sock.setblocking(False)
        conn = _Conn(sock)
        with self._lock:
            self._conns.append(conn)
        sel.register(sock, selectors.EVENT_READ, conn)

    def _ready(self, sel, conn, mask):
        if mask & selectors.EVENT_READ:
            try:
                data = conn.sock.recv(65536)
            except (BlockingIOError, InterruptedError):
                data = None
            except OSError:
                data = b""
            if data == b"":
                conn.dropped = conn.dropped or "it went away"
                return
            if data:
                self._lines(conn, data)
        if mask & selectors.EVENT_WRITE:
            with self._lock:
                try:
                    n = conn.sock.send(conn.out)
                    del conn.out[:n]
                except (BlockingIOError, InterruptedError):
                    pass
                except OSError:
                    conn.dropped = "it went away"

    def _drop(self, sel, conn):
        """Forget `conn`; a request of its own that waits for the button is withdrawn."""
        sel.unregister(conn.sock)
        conn.sock.close()
        self._conns.remove(conn)
        for ours in list(self._routes):
            if self._routes[ours][0] is conn:
                del self._routes[ours]
        self._held = [h for h in self._held if h[0] is not conn]
        for ours in conn.waiting:
            try:
                self.client.send_shared("cancel", {"re": ours})
            except Exception:  # the owner's port: its own thread reports what went wrong
                pass

    def _lines(self, conn, data):
        """Like the board's LineReader (firmware/earshot/proto.py): one command per line."""
        for c in data:
            if c in (10, 13):
                if conn.inbuf:
                    self._command(conn, bytes(conn.inbuf))
                conn.inbuf.clear()
            elif len(conn.inbuf) >= MAX_LINE:
                self._answer(conn, 0, "frame too long (max %d bytes)" % MAX_LINE)
                conn.inbuf.clear()
            else:
                conn.inbuf.append(c)

    def _command(self, conn, line):
        start = line.rfind(b"@E")
        if start < 0:
            return self._answer(conn, 0, "garbage on the line (%d bytes)" % len(line))
        parts = line[start:].split(b" ", 3)
        try:
            version, seq, crc = int(parts[0][2:]), int(parts[1]), int(parts[2], 16)
        except (ValueError, IndexError):
            return self._answer(conn, 0, "malformed frame header")
        if version != VERSION:
            return self._answer(conn, seq, "unsupported protocol version %d (board speaks %d)"
                                % (version, VERSION))
        if len(parts) != 4 or zlib.crc32(parts[3]) != crc:
            return self._answer(conn, seq, "checksum mismatch")
        try:
            args = json.loads(parts[3])
        except ValueError:
            return self._answer(conn, seq, "payload is not JSON")
        if not isinstance(args, dict) or not isinstance(args.get("cmd"), str):
            return self._answer(conn, seq, "payload has no 'cmd'")
        if args["cmd"] == "cancel" and "re" in args:
            # Only its own request: a number it never sent matches nothing on the board.
            args["re"] = conn.mine.get(args["re"], -1) if isinstance(args["re"], int) \
                else args["re"]
        with self._lock:
            self._log_expired()
            if args["cmd"] == "log" and (self._log is not None or self._held):
                self._held.append((conn, seq, args))  # one transfer at a time: its turn comes
                return
        self._forward(conn, seq, args)

    def _forward(self, conn, seq, args):
        name = args.pop("cmd")
        with self._lock:
            try:
                ours = self.client.send_shared(name, args)
            except Exception as e:  # the owner lost the board: answered like a board error
                return self._answer(conn, seq, "the board is not reachable: %s" % e)
            self._routes[ours] = (conn, seq)
            while len(self._routes) > MAX_ROUTES:
                self._routes.popitem(last=False)
            conn.mine[seq] = ours
            if len(conn.mine) > MAX_ROUTES:
                conn.mine.pop(next(iter(conn.mine)))
            if name == "log":
                self._claim_log(conn, ours)

    def _release_held(self):
        with self._lock:  # popped and sent under one hold: the owner's log cannot slip between
            self._log_expired()
            if self._log is not None or not self._held:
                return
            conn, seq, args = self._held.pop(0)
            self._forward(conn, seq, args)

    def _answer(self, conn, seq, error):
        payload = json.dumps({"ev": "error", "re": seq, "error": error}, separators=(",", ":"))
        with self._lock:
            self._queue(conn, encode_frame(T_EVENT, self._last_seq, payload.encode()))


# -- a command's side ---------------------------------------------------------------------------


def owners():
    """Registrations of the processes sharing a board now (stale ones removed)."""
    d = share_dir()
    found = []
    for path in sorted(d.glob("*.json")) if d.is_dir() else ():
        if _remove_if_stale(path):
            continue
        try:
            found.append(json.loads(path.read_text()))
        except (OSError, ValueError):
            continue
    return found


def owners_of(port):
    """The registrations of the other earshot processes that share `port` now."""
    _, real = _slug(port)
    return [info for info in owners()
            if info.get("pid") != os.getpid() and real in (info.get("real"), info.get("port"))]


def reach(port):
    """A connection to the board on `port` through the earshot process that has it open, or
    None when none shares it."""
    for info in owners_of(port):
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.connect(info["socket"])
        except (OSError, KeyError, TypeError):
            sock.close()
            continue  # a socket nobody listens on: as if it were not there
        if port not in _noted:
            _noted.add(port)
            print("earshot: reaching %s through the earshot %s (pid %s) that has it open"
                  % (port, info.get("owner", "process"), info.get("pid")), file=sys.stderr,
                  flush=True)
        return SharedPort(sock, info)
    return None


class SharedPort:
    """What Client needs of a pyserial port, over an owner's socket."""

    def __init__(self, sock, info, timeout=0.05):
        self.sock = sock
        self.info = info
        self.timeout = timeout

    @property
    def in_waiting(self):
        import select

        ready, _, _ = select.select([self.sock], [], [], 0)
        return 4096 if ready else 0

    def read(self, n=1):
        import select

        ready, _, _ = select.select([self.sock], [], [], self.timeout)
        if not ready:
            return b""
        data = self.sock.recv(max(1, n))
        if not data:
            raise OSError("the earshot %s (pid %s) that has it open closed this connection (it "
                          "stopped, or this command read too slowly)"
                          % (self.info.get("owner"), self.info.get("pid")))
        return data

    def write(self, data):
        self.sock.sendall(data)
        return len(data)

    def reset_input_buffer(self):
        pass  # what the owner fans out starts at the connection: nothing old is waiting

    def close(self):
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def _remove_if_stale(path):
    """True (and the registration and its socket removed) if no process holds its lock."""
    try:
        fd = os.open(path.with_suffix(".lock"), os.O_RDWR)
    except OSError:
        fd = None
    try:
        if fd is not None:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        try:
            sock = json.loads(path.read_text()).get("socket")
            if sock:
                os.unlink(sock)
        except (OSError, ValueError, AttributeError):
            pass
        path.unlink()
    except OSError:
        return fd is None
    finally:
        if fd is not None:
            os.close(fd)
    return True
