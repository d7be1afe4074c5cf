"""Hardware-in-the-loop targets: a board reached only through its serial port.

The behaviour tests (host_tools/hil/suite/) talk to a `board` object. On the virtual board
that is a VirtualBoard; with `earshot hil --port P` it is a SerialTarget, which offers the same
names. What a target cannot do without extra hardware (press a button without a rig, read a
pin without a probe, cut power without a relay) raises NotSupportedError with the reason, and
the test is skipped with that reason, never passed.
"""

import base64
import time

from ..errors import NotSupportedError, ProtocolError
from ..link.client import Client

FRAME_BYTES = 640
_AHEAD = 8 * FRAME_BYTES  # fed audio kept queued on the board (test-mode FIFO holds 16000)


class SerialTarget:
    """A real board (or any board) on a serial port, running a developer build. Playing audio
    needs test mode: deployed --test-mode and armed by holding the action button while the board
    starts (docs/hil-rig.md); without it, tests that play audio are skipped with that reason."""

    def __init__(self, port, board_id=None):
        self.port = port
        self.board_id = board_id
        self.client = Client(port, timeout=3.0)
        self._queue = bytearray()
        self.test_mode = False  # as the board last said (wait_booted)

    def restart(self):
        """Soft reset (Ctrl-C, Ctrl-D): the firmware boots again, muted; consent to private."""
        ser = self.client.ensure_connected()
        ser.write(b"\r\x03\x03")
        time.sleep(0.3)
        ser.write(b"\x04")
        time.sleep(0.3)
        self.client.parser.noise.clear()
        self.client.backlog = []
        self._queue.clear()
        self.wait_booted()
        self.client.command("consent", preset="private")  # more private: applies at once
        self.client.backlog = []

    def deploy(self, **kwargs):
        from ..board.deploy import deploy

        if not self.board_id:
            raise NotSupportedError("redeploying needs --board (which board file this is)")
        self.client.close()
        return deploy(self.port, board_id=self.board_id, test_mode=True, **kwargs)

    # -- what a plain serial connection can do ---------------------------------------------

    def wait_booted(self, timeout=15):
        deadline = time.monotonic() + timeout
        while True:
            try:
                reply = self.client.hello()
                break
            except ProtocolError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        self.test_mode = bool(reply.get("test_mode"))
        return reply

    def play(self, pcm):
        from ..sim.world import read_pcm

        if not self.test_mode:
            raise NotSupportedError(
                "playing audio needs test mode on %s: earshot deploy --test-mode --port %s, then "
                "hold the action button while the board starts" % (self.port, self.port))
        self._queue += read_pcm(pcm)

    def wait_audio_done(self, timeout=120):
        """Feed the queued audio at the board's pace (real time), in place of its mic."""
        deadline = time.monotonic() + timeout
        free = None
        while self._queue:
            chunk = bytes(self._queue[:FRAME_BYTES]).ljust(FRAME_BYTES, b"\0")
            try:
                reply = self.client.command("feed", pcm=base64.b64encode(chunk).decode())
            except ProtocolError as e:
                if "full" not in str(e):
                    raise
                time.sleep(0.02)
                continue
            del self._queue[:FRAME_BYTES]
            free = reply.get("free", 0)
            if 16000 - free > _AHEAD:
                time.sleep(0.02)
            if time.monotonic() > deadline:
                raise ProtocolError("feeding audio to %s timed out" % self.port)
        # Let the board play out what it holds.
        time.sleep(0.6)

    def advance(self, seconds, timeout=None):
        time.sleep(seconds)
        return True

    # -- what needs hardware around the board ---------------------------------------------------

    def press(self, button, seconds=0.1, wait=True):
        raise NotSupportedError("pressing '%s' needs a button rig (docs/hil-rig.md)" % button)

    hold = release = press

    def pins(self):
        raise NotSupportedError("reading pins needs a probe on the mute LED and mic power "
                                "(docs/hil-rig.md)")

    def power_cut(self):
        raise NotSupportedError("cutting power needs a relay on the board's supply (docs/hil-rig.md)")

    power_on = hard_reset = power_cut

    def tap(self):
        raise NotSupportedError("counting every byte on the line needs the virtual board's tap")

    @property
    def world(self):
        raise NotSupportedError("the simulated world exists only on the virtual board")

    def close(self):
        self.client.close()
