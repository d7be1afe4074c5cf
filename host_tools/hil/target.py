"""Hardware-in-the-loop targets: a board reached through its serial port, and a rig around it.

The behaviour tests (host_tools/hil/suite/) talk to a `board` object. On the virtual board in
`make test` that is a VirtualBoard; with `earshot hil` it is a SerialTarget, which offers the
same names: the firmware over serial (a device, an rfc2217:// URL a labgrid exporter serves),
everything physical through a rig (host_tools/hil/rig.py). What the rig cannot do raises
NotSupportedError with the reason, and the test is skipped with that reason, never passed.

Before any test, preflight() checks what the suite needs, one line each (the firmware this
earshot ships, test mode, the board file), and household() / put_back() keep what the
household chose (consent, mute) as it was found. The suite never provisions a board: it could
not give the old key back (the firmware never reveals it), so it verifies sessions with the key
file `earshot provision` wrote for this board.
"""

import base64
import time

from ..board import files
from ..errors import EarshotError, NotSupportedError, PortError, ProtocolError
from ..link.client import Client
from ..link.protocol import T_EVENT
from .rig import Rig

FRAME_BYTES = 640
_FIFO = 16000  # the test-mode feed buffer on the board (firmware/earshot/testfeed.py)
# Fed audio kept queued on the board (and in flight to it): 320 ms. A feeder starved for longer
# than this (a loaded PC, a slow network hop) lets the board hear silence in the middle of the
# speech, and 800 ms of it ends a session (measured: at a load average of 17, 160 ms ran dry
# through ser2net). It stays well under _FIFO: a full buffer refuses the feed.
_LEAD = 16 * FRAME_BYTES
_BYTES_PER_S = 32000  # 16 kHz, 16-bit: how fast the board's audio clock consumes it
# time.ticks_ms() wraps at MICROPY_PY_TIME_TICKS_PERIOD (py/mpconfig.h: 2**30 on 32-bit).
_TICKS_MASK = (1 << 30) - 1
_REPLY_S = 10.0  # a command's reply, on a busy PC (a load average of 25 was seen)
_HELLO_S = 2.0  # one hello while the board may still be starting
_CONFIRM_S = 0.7  # the confirm gesture: both buttons, past the firmware's 0.5 s
# A person looks at a request's light before holding: the firmware confirms only a request the
# LED had shown for a second before the hold began (firmware/earshot/confirm.py SHOWN_MS).
_SEE_LIGHT_S = 1.2


class SerialTarget:
    """A board on a serial port running a developer build deployed with --test-mode, with test
    mode armed (the action button held while it started, docs/hil-rig.md)."""

    def __init__(self, port, rig=None, board_id=None, name=None):
        self.port = port
        self.rig = rig or Rig()
        self.board_id = board_id
        self.name = name or port  # how reports call this board (a place name, a port)
        self.client = Client(port, timeout=_REPLY_S)
        self._network = "://" in port  # socket://, rfc2217://: outlives the board's restarts
        self._queue = bytearray()
        self.test_mode = False  # as the board last said (wait_booted)
        self.hello = {}

    # -- before and after the suite ------------------------------------------------------------

    def preflight(self):
        """The board answers as this earshot's firmware, in test mode, of the given board file;
        an EarshotError with one line saying how to fix it otherwise. It only asks (hello): a
        board that is not ready is left exactly as it was found (no reset, no restart), so its
        mute, consent and transparency log are untouched. Arming test mode needs a reset (the
        board boots muted, the log records it): a person does that, as docs/hil-rig.md says."""
        from ..resources import firmware_version

        deploy = "earshot deploy --test-mode --board %s --port %s" % (
            self.board_id or "BOARD", self.port)
        try:
            reply = self._hello(3.0)
        except ProtocolError as e:
            text = str(e)
            if "REPL" in text:
                raise EarshotError("%s is a MicroPython REPL but the Earshot firmware is not "
                                   "running: %s" % (self.port, deploy)) from None
            raise EarshotError(text) from None
        if reply.get("access") in ("locked", "unlocked"):
            raise EarshotError("%s runs a --locked build, which has no test mode: hold both "
                               "buttons while it starts (it unlocks until the next reset), then "
                               "%s" % (self.port, deploy))
        if reply.get("version") != firmware_version():
            raise EarshotError("%s runs firmware %s; this earshot's suite tests %s: %s"
                               % (self.port, reply.get("version"), firmware_version(), deploy))
        files.check_same_board(self.board_id, self.port, reply.get("board"))
        self.board_id = self.board_id or reply.get("board")
        if not reply.get("test_mode"):
            raise EarshotError(
                "%s is not in test mode: the suite plays audio into the board through test "
                "mode. Deploy with `%s`, then hold the action button while the board starts "
                "(on a virtual board: earshot power cycle --hold action --port sim:NAME); "
                "nothing was changed on the board" % (self.port, deploy))
        self.hello = reply
        self.test_mode = True
        return reply

    def household(self):
        """What the household chose, as the board reports it: to put back at the end."""
        s = self.client.command("status")
        return {"flags": s["consent"]["flags"], "guest": s["consent"]["guest"],
                "preset": s["consent"]["preset"], "muted": s["muted"],
                "device_id": s.get("device_id")}

    def _see_the_light(self):
        try:
            start = self.rig.now()
        except NotSupportedError:  # no probe: a real board's clock is the wall clock
            time.sleep(_SEE_LIGHT_S)
            return
        deadline = time.monotonic() + 30  # board time may run slower than the wall clock
        while self.rig.now() - start < _SEE_LIGHT_S and time.monotonic() < deadline:
            time.sleep(0.05)

    def put_back(self, before):
        """Restart the board and restore the household's consent and mute as found; returns
        what could not be restored, in words (it is left the more private way)."""
        from ..vocabulary import flag_bits

        self.restart(private=False)
        now = self.household()
        buttons = self.rig.describe().get("buttons")
        left = []
        flags = flag_bits(before["flags"])
        if flag_bits(now["flags"]) != flags:
            if buttons:
                reply = self.client.command("consent", preset=flags)
                if reply.get("result") == "needs_confirmation":
                    self._see_the_light()
                    self.press("mute+action", _CONFIRM_S)
            if flag_bits(self.household()["flags"]) != flags:
                left.append("consent %s (it was %s: set it again with earshot consent set %s "
                            "and hold both buttons)" % (now["preset"], before["preset"],
                                                        before["preset"]))
        if before["guest"] and not self.household()["guest"]:
            self.client.command("consent", guest=True)  # more private: applies at once
        if not before["muted"] and self.household()["muted"]:
            if buttons:
                self.press("mute")
            if self.household()["muted"]:
                left.append("muted (it was unmuted: press the mute button)")
        if self.household()["device_id"] != before["device_id"]:
            left.append("device id %s (it was %s)" % (self.household()["device_id"],
                                                      before["device_id"]))
        return left

    # -- what a serial connection does ---------------------------------------------------------

    def restart(self, private=True):
        """Soft reset (Ctrl-C, Ctrl-D): the firmware boots again, muted; with `private`, the
        consent goes back to private (more private: applies at once)."""
        ser = self.client.ensure_connected()
        ser.write(b"\r\x03\x03")
        time.sleep(0.3)
        ser.write(b"\x04")
        time.sleep(0.3)
        self.client.parser.noise.clear()
        self.client.backlog = []
        self._queue.clear()
        self.wait_booted()
        if self.hello.get("test_mode") and not self.test_mode:
            # A power-on (a test cut the power) ends test mode; the rig arms it again, as a
            # person would, holding the action button while the board starts.
            try:
                self.boot_holding("action")
            except NotSupportedError:
                pass
        if private:
            self.client.command("consent", preset="private")
        self.client.backlog = []

    def deploy(self, **kwargs):
        """Redeploy this earshot's firmware (the version preflight found on the board) as a
        test-mode build: test mode stays armed, /data (identity, log) is never touched."""
        from ..board.deploy import deploy

        if not self.board_id:
            raise NotSupportedError("redeploying needs --board (which board file this is)")
        self.client.close()
        return deploy(self.port, board_id=self.board_id, test_mode=True, **kwargs)

    def wait_booted(self, timeout=60):
        """Wait until the firmware answers (a port that went away with the board's USB is
        opened again); its hello reply. Each hello waits _HELLO_S (one sent while the board
        was still starting may never be answered); the whole wait is a generous host bound."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                reply = self._hello()
                break
            except (ProtocolError, PortError) as e:
                if isinstance(e, PortError) or not self._network:
                    self.client.close()
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        self.test_mode = bool(reply.get("test_mode"))
        return reply

    def _hello(self, seconds=_HELLO_S):
        saved, self.client.timeout = self.client.timeout, seconds
        try:
            return self.client.hello()
        finally:
            self.client.timeout = saved

    def play(self, pcm):
        from ..sim.world import read_pcm

        if not self.test_mode:
            raise NotSupportedError(
                "playing audio needs test mode on %s: earshot deploy --test-mode --port %s, then "
                "hold the action button while the board starts" % (self.port, self.port))
        self._queue += read_pcm(pcm)

    def wait_audio_done(self, timeout=None):
        """Feed the queued audio in place of the mic, at the board's pace (real time).

        Commands are pipelined: a round trip through a network serial port (ser2net) takes
        longer than the 20 ms of audio one command carries, so several are kept in flight, and
        the board's queue is kept about `_LEAD` bytes ahead from what its replies say is free.
        """
        c = self.client
        queue = self._queue
        sent = {}  # seq -> bytes, not yet answered
        fill, t_fill = 0.0, time.monotonic()  # bytes queued on the board, and when known
        limit = timeout or len(queue) / _BYTES_PER_S * 3 + 30
        deadline = time.monotonic() + limit
        while queue or sent:
            now = time.monotonic()
            fill, t_fill = max(0.0, fill - (now - t_fill) * _BYTES_PER_S), now
            while queue and fill + sum(sent.values()) < _LEAD:
                chunk = bytes(queue[:FRAME_BYTES]).ljust(FRAME_BYTES, b"\0")
                del queue[:FRAME_BYTES]
                sent[c.send("feed", pcm=base64.b64encode(chunk).decode())] = len(chunk)
            for frame in c.read_frames(0.01):
                ev = frame.event() if frame.type == T_EVENT else {}
                if ev.get("re") in sent and ev.get("ev") in ("reply", "error"):
                    del sent[ev["re"]]
                    if ev["ev"] == "error":
                        raise ProtocolError("feeding audio to %s: %s" % (self.port, ev["error"]))
                    fill, t_fill = float(_FIFO - ev.get("free", _FIFO)), time.monotonic()
                else:
                    c.backlog.append(frame)
            if time.monotonic() > deadline:
                queue.clear()
                raise ProtocolError("feeding audio to %s timed out after %.0f s"
                                    % (self.port, limit))
        # Let the board play out what it holds: it does at its own pace, so in its time.
        self.advance(fill / _BYTES_PER_S + 0.2)

    def advance(self, seconds, timeout=None):
        """Let `seconds` of the board's own time pass, read from its ticks (status uptime_ms),
        not the host's clock: a busy PC (or a virtual board behind it) may run the board's
        clock slower than the host's, and a confirmation that should lapse would not have.
        The host waits as long as it takes, within a generous bound."""
        start = self.ticks_ms()
        deadline = time.monotonic() + (timeout or seconds * 4 + 30)
        while True:
            left = seconds - ((self.ticks_ms() - start) & _TICKS_MASK) / 1000
            if left <= 0:
                return True
            if time.monotonic() > deadline:
                raise ProtocolError("%s: %.1f s of board time did not pass in %.0f s"
                                    % (self.port, seconds, timeout or seconds * 4 + 30))
            time.sleep(min(max(left, 0.005), 0.25))  # the board's clock never outruns ours

    def ticks_ms(self):
        """The board's time.ticks_ms() now (it wraps at 2**30, MicroPython's TICKS_PERIOD)."""
        return self.client.command("status")["uptime_ms"]

    def tap(self):
        """Counts every byte the board sends on the line from now on, except its replies to
        the suite's own commands: len(tap) is what left the board on its own."""
        tap = _OwnBytes()
        self.client.taps.append(tap)
        return tap

    # -- what the rig does ---------------------------------------------------------------------

    def press(self, button, seconds=0.1, wait=True):
        # Held for `seconds` of the board's time, whatever the load on this PC (a confirm
        # gesture cut short by a slow host would not confirm).
        self.rig.press(button, seconds, wait=self.advance)

    def hold(self, button):
        self.rig.hold(button)

    def release(self, button):
        self.rig.release(button)

    def pins(self):
        return self.rig.pins()

    def probe_time(self):
        return self.rig.now()

    def edges(self, since):
        return self.rig.edges(since)

    def _board_gone(self):
        """The board is about to restart: a USB port goes with it, so it is closed (and opened
        again by the next command). A network port (ser2net, an exporter) stays: its
        connection is kept for the whole suite, since each RFC 2217 open and close costs
        pyserial's negotiation and sleeps (serial/rfc2217.py open, close: 0.3 s)."""
        if not self._network:
            self.client.close()

    def power_cut(self):
        self._board_gone()
        self.rig.power_off()

    def power_on(self):
        self.rig.power_on()

    def hard_reset(self):
        self._board_gone()
        self.rig.reset()

    def boot_holding(self, button):
        self._board_gone()
        self.rig.boot_holding(button, self.wait_booted)

    @property
    def world(self):
        raise NotSupportedError("the simulated world exists only on the virtual board")

    def close(self):
        self.client.close()
        self.rig.close()


class _OwnBytes:
    """A Client tap: bytes read, less the board's replies and errors answering a command."""

    def __init__(self):
        self.n = 0

    def __call__(self, data, frames):
        self.n += len(data)
        for f in frames:
            if f.type == T_EVENT:
                ev = f.event()
                if "re" in ev and ev.get("ev") in ("reply", "error"):
                    self.n -= 12 + len(f.payload)

    def __len__(self):
        return max(0, self.n)
