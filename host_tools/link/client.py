"""Talks protocol v1 to an Earshot board (real or virtual) over a serial port.

The port is opened lazily (`serial_port.open_port`: exclusive, one-line errors), so building a
Client never touches the hardware.
"""

import secrets
import threading
import time

from ..errors import PortError, ProtocolError
from .protocol import T_EVENT, VERSION, FrameParser, encode_command
from .serial_port import open_port


class Client:
    """client = Client(port); client.command("status") -> reply dict."""

    def __init__(self, port, timeout=3.0, share=None):
        self.port = port
        self.timeout = timeout
        self._serial = None
        # Command numbers start anywhere: a reply still on its way to an earlier host (a
        # board's USB FIFO, or the virtual board's, holds it for whoever opens the port next)
        # names that host's number, and every process counting from 1 would take it as its own.
        self._seq = secrets.randbelow(999999)
        # `share`: who this process is ("dashboard", "bridge", "monitor", "record"); while it
        # holds the port, other earshot commands reach the board through it (link/share.py).
        self.share_as = share
        self._share = None
        self._write_lock = threading.Lock()  # the owner's thread and its share both send
        self.parser = FrameParser()
        self.backlog = []  # frames received while waiting for a reply
        self.taps = []  # callables(data, frames): every byte read from the line, as it came

    def ensure_connected(self):
        if self._serial is None:
            try:
                self._serial = open_port(self.port)
            except PortError as e:
                if e.kind != "busy":
                    raise
                from .share import reach

                # Another earshot (the dashboard, the bridge...) has it open: through it.
                self._serial = reach(self.port)
                if self._serial is None:
                    raise
            else:
                if self.share_as:
                    from .share import Share

                    share = Share(self, self.share_as)
                    self._share = share if share.start() else None
            self._serial.reset_input_buffer()
        return self._serial

    def close(self):
        if self._share is not None:
            self._share.close()
            self._share = None
        if self._serial is not None:
            self._serial.close()
            self._serial = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def send(self, name, **args):
        ser = self.ensure_connected()
        if self._share is not None and name == "log":
            # Claimed and sent in one step: a client's log forwarded in between would take
            # the transfer's lines away from one of the two (link/share.py).
            return self._share.owner_log(lambda: self._write(ser, name, args))
        return self._write(ser, name, args)

    def send_shared(self, name, args):
        """Send a command for a process this one shares the port with; its number here."""
        ser = self._serial
        if ser is None:
            raise PortError("%s is not open" % self.port)
        return self._write(ser, name, args)

    def _write(self, ser, name, args):
        with self._write_lock:
            self._seq = self._seq % 999999 + 1
            args["cmd"] = name
            try:
                ser.write(encode_command(self._seq, args))
            except OSError as e:
                raise PortError("%s went away while writing: %s" % (self.port, e)) from None
            return self._seq

    def read_frames(self, wait=0.05):
        """Frames that arrived within `wait` seconds (possibly none)."""
        ser = self.ensure_connected()
        deadline = time.monotonic() + wait
        frames = []
        while True:
            try:
                data = ser.read(max(1, ser.in_waiting))
            except OSError as e:
                raise PortError("%s went away: %s" % (self.port, e)) from None
            if data:
                new = self.parser.feed(data)
                for tap in self.taps:
                    tap(data, new)
                frames += new
            if frames or time.monotonic() >= deadline:
                return frames

    def frames(self, wait=0.05):
        """Frames not yet handed out, oldest first: those kept while a command waited for its
        reply (the backlog), then whatever arrives within `wait` seconds."""
        kept, self.backlog = self.backlog, []
        return kept + self.read_frames(wait)

    def command(self, name, timeout=None, quiet=None, **args):
        """Send a command and return its reply; ProtocolError for an error reply or silence.

        `quiet`: also give up when the board sends nothing at all for that many seconds (a
        long `timeout` for a reply that comes after many frames, without waiting it out for
        a board that went away)."""
        seq = self.send(name, **args)
        start = heard = time.monotonic()
        deadline = start + (timeout or self.timeout)
        while time.monotonic() < deadline:
            frames = self.read_frames(0.05)
            if frames:
                heard = time.monotonic()
            elif quiet is not None and time.monotonic() - heard > quiet:
                break
            for i, frame in enumerate(frames):
                if frame.type == T_EVENT:
                    ev = frame.event()
                    if ev.get("re") == seq and ev.get("ev") in ("reply", "error"):
                        # Frames that came after the reply are kept for the caller, in order.
                        self.backlog.extend(frames[i + 1 :])
                        if ev["ev"] == "error":
                            raise ProtocolError("board refused %s: %s" % (name, ev.get("error")))
                        return ev
                self.backlog.append(frame)
        raise ProtocolError(self._silence_reason())

    def command_confirmed(self, name, countdown=None, **args):
        """Send a command that may wait for the household's button press on the board.

        Returns (reply, outcome): outcome is None when the board applied it at once, else
        "applied", "expired" or "cancelled" (the board's confirm event, docs/protocol.md).
        countdown(seconds_left) is called about ten times a second while the board waits.
        Interrupted (Ctrl-C, or SIGTERM made one: cli/stopping.py), it withdraws the request
        on the board before the KeyboardInterrupt goes on: nothing waits for a command that
        is gone.
        """
        seq = self.send(name, **args)
        try:
            return self._await_confirmation(name, seq, countdown)
        except KeyboardInterrupt:
            self.withdraw(seq)
            raise

    def withdraw(self, seq):
        """Cancel the request command `seq` made, if it still waits; True once the board said
        so. Best effort: a board that is gone has nothing waiting for us either."""
        try:
            return bool(self.command("cancel", timeout=3.0, re=seq).get("cancelled"))
        except (ProtocolError, PortError):
            return False

    def _await_confirmation(self, name, seq, countdown):
        deadline = time.monotonic() + self.timeout
        reply = waiting_until = None
        asked, ask_at = None, 0.0  # the status asked for the board's own count of seconds left
        while True:
            for frame in self.read_frames(0.1):
                ev = frame.event() if frame.type == T_EVENT else {}
                if asked is not None and ev.get("re") == asked and ev.get("ev") == "reply":
                    asked, left = None, (ev.get("confirm") or {}).get("seconds")
                    if left is not None and waiting_until is not None:
                        waiting_until = time.monotonic() + left
                    continue
                if ev.get("re") != seq or ev.get("ev") not in ("reply", "error", "confirm"):
                    self.backlog.append(frame)
                    continue
                if ev["ev"] == "confirm":
                    if ev.get("outcome") and waiting_until is None:
                        # The outcome of a request this command never made: an earlier
                        # command (of another process, whose numbers may meet this one's)
                        # whose request this one answered, e.g. `consent set private`
                        # cancelling it.
                        continue
                    if ev.get("outcome") and (ev["outcome"] != "applied" or reply):
                        return reply, ev["outcome"]
                    if ev.get("state") == "waiting":
                        waiting_until = time.monotonic() + ev.get("seconds", 10)
                elif ev["ev"] == "error":
                    raise ProtocolError("board refused %s: %s" % (name, ev.get("error")))
                elif ev.get("result") == "needs_confirmation":
                    reply = ev
                    waiting_until = time.monotonic() + ev.get("seconds", 10)
                else:
                    return ev, ("applied" if waiting_until else None)
            now = time.monotonic()
            if waiting_until is not None:
                if countdown:
                    # The countdown is the board's (its ticks), asked again every second: a
                    # loaded PC can slow the board's clock, and the window closes by that clock.
                    if asked is None and now >= ask_at:
                        asked, ask_at = self.send("status"), now + 1.0
                    countdown(max(0.0, waiting_until - now))
                # Board time follows the audio clock, which a loaded PC may slow: be generous.
                deadline = max(deadline, waiting_until + 15)
            if now > deadline:
                raise ProtocolError(self._silence_reason() if reply is None and
                                    waiting_until is None else
                                    "the board did not report the outcome of %s" % name)

    def other_talk(self):
        """Why the board, silent in the Earshot protocol, is talking otherwise (it is at the
        MicroPython REPL, or speaks another protocol version), from what it sent since
        forget_talk(); None when it sent nothing that says."""
        reason = self._silence_reason()
        return None if reason.startswith("no answer from") else reason

    def forget_talk(self):
        self.parser.noise.clear()
        self.parser.versions_seen.clear()

    def _silence_reason(self):
        noise = bytes(self.parser.noise)
        if self.parser.versions_seen - {VERSION}:
            v = max(self.parser.versions_seen)
            return ("%s speaks Earshot protocol v%d; this earshot speaks v%d: update one of "
                    "them (earshot deploy --port %s)" % (self.port, v, VERSION, self.port))
        if b">>>" in noise or b"raw REPL" in noise or b"MicroPython" in noise:
            return ("%s is a MicroPython REPL but the Earshot firmware is not running: "
                    "earshot deploy --port %s" % (self.port, self.port))
        return ("no answer from %s: not an Earshot board, or its firmware is not running "
                "(earshot deploy --port %s)" % (self.port, self.port))

    def hello(self):
        reply = self.command("hello")
        if reply.get("protocol") != VERSION:
            raise ProtocolError("board firmware %s speaks protocol v%s; this earshot speaks v%d: "
                                "run earshot deploy" % (reply.get("version"), reply.get("protocol"),
                                                        VERSION))
        if self._share is not None:
            self._share.identify(reply.get("device_id"))
        return reply

    def read_log(self, quiet=None):
        """The transparency log's bytes as stored on the board, and the board's reply (its head).
        `quiet`: give up after that many seconds in which the board sent nothing."""
        turn = time.monotonic() + 20
        while self._share is not None and self._share.log_busy() and time.monotonic() < turn:
            self.backlog += self.read_frames(0.05)  # a command sharing the port reads it now
        # Log lines already here belong to an earlier transfer (one this process gave up on,
        # or, while it waited its turn, a command's that shares the port): never to this one.
        self.backlog = [f for f in self.backlog
                        if not (f.type == T_EVENT and f.event().get("ev") == "log")]
        reply = self.command("log", timeout=15.0, quiet=quiet)
        lines, others = [], []
        for f in self.frames(0):
            if f.type == T_EVENT and f.event().get("ev") == "log":
                lines += f.event()["lines"]
            else:
                others.append(f)
        # Whatever else the board said meanwhile (a mute, a session) stays for the caller.
        self.backlog = others + self.backlog
        if len(lines) != reply["lines"]:
            raise ProtocolError("log transfer incomplete: %d of %d lines" % (len(lines), reply["lines"]))
        return "".join(lines).encode(), reply


def probe(port, timeout=0.3):
    """The board's hello reply, or None if nothing Earshot answers on `port` (never blocks)."""
    try:
        with Client(port, timeout=timeout) as b:
            return b.hello()
    except (PortError, ProtocolError):
        return None
