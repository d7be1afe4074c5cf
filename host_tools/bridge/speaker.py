"""Home Assistant's voice on the board's speaker: replies, announcements, a timer's end.

Home Assistant sends audio as `audio-start`, `audio-chunk`..., `audio-stop` (its TTS reply at
22050 Hz, or an announcement through ffmpeg: homeassistant/components/wyoming/
assist_satellite.py, _stream_tts and async_announce) and waits for `played`. Here that audio is
converted to the board's speaker format (16 kHz, 16-bit mono), sent to the board with the
`play` command (docs/protocol.md) and, once the board reports `played` (its buffer ran dry
after the last chunk, in board time), answered with `played`.

`play` commands are pipelined: each carries 20 ms of audio, the board takes a few per audio
frame, and the board's replies say how much room its buffer has left, so the buffer is kept
full without waiting for a round trip per chunk (as host_tools/hil/target.py feeds audio).
"""

import asyncio
import base64
import math
import struct
import time

from wyoming.audio import AudioChunk, AudioChunkConverter, AudioFormat, AudioStart, AudioStop

from ..errors import EarshotError

CHUNK = 640  # bytes per play command: 20 ms at 16 kHz, well inside the 1024-byte command line
_LEAD_S = 0.05  # re-check the board's room this often while it is full
_PLAYED_GRACE_S = 5.0  # the board's `played` may come this much after the audio's length


def snd_format(board):
    """The board's speaker format (AudioFormat), or None when it has none that works."""
    spk = board.view.board.get("speaker")  # the board's status: {"ok", "rate", ...} or None
    if not isinstance(spk, dict) or not spk.get("ok"):
        return None
    return AudioFormat(rate=int(spk.get("rate", 16000)), width=2, channels=1)


class Speaker:
    """One utterance at a time: a new `audio-start` replaces the one still playing."""

    def __init__(self, board, say):
        self.board = board
        self.say = say
        self._task = None
        self._queue = None
        self._owner = None
        self._replies = {}  # seq -> bytes, play commands not yet answered
        self._free = None  # the board's room after the last answered play command
        self._free_at = 0.0
        self._played = None  # Future for the board's `played` event
        self.last = None  # {"seconds", "underruns", "board_ms"} of the last utterance

    # -- from Home Assistant -------------------------------------------------------------------

    async def event(self, peer, event):
        """Feed one audio event of `peer`; never blocks on the board (a task plays)."""
        fmt = snd_format(self.board)
        if AudioStart.is_type(event.type):
            if fmt is None:
                self.say("Home Assistant sent audio, but this board has no working speaker: "
                         "not played")
                return False
            await self.cancel(None)
            self._owner = peer
            self._queue = asyncio.Queue()
            conv = AudioChunkConverter(rate=fmt.rate, width=2, channels=1)
            self._task = asyncio.create_task(self._play(peer, self._queue, conv),
                                             name="speaker")
        elif self._owner is peer and self._queue is not None:
            if AudioChunk.is_type(event.type):
                self._queue.put_nowait(AudioChunk.from_event(event))
            elif AudioStop.is_type(event.type):
                self._queue.put_nowait(None)
        return False

    async def chime(self, peer):
        """A timer's end: a short two-tone chime, when nothing else is playing."""
        fmt = snd_format(self.board)
        if fmt is None or (self._task is not None and not self._task.done()):
            return
        queue = asyncio.Queue()
        queue.put_nowait(AudioChunk(rate=fmt.rate, width=2, channels=1,
                                    audio=chime_pcm(fmt.rate)))
        queue.put_nowait(None)
        self._owner, self._queue = None, queue
        self._task = asyncio.create_task(self._play(None, queue, None), name="chime")

    async def cancel(self, peer):
        """Stop what `peer` (None: anyone) is playing; the board drops what it holds."""
        if self._task is None or self._task.done() or (peer is not None and
                                                       self._owner is not peer):
            return
        self._task.cancel()
        self._task = None
        try:
            await self.board.command("play", cancel=True)
        except EarshotError:
            pass

    # -- from the board ---------------------------------------------------------------------------

    def board_event(self, ev):
        kind = ev.get("ev")
        if kind in ("reply", "error") and ev.get("re") in self._replies:
            self._replies.pop(ev["re"])
            if "free" in ev:
                self._free, self._free_at = int(ev["free"]), time.monotonic()
        elif kind == "played" and self._played is not None and not self._played.done():
            self._played.set_result(ev)

    # -- the playing task --------------------------------------------------------------------------

    async def _play(self, peer, queue, conv):
        pending = bytearray()
        sent = 0
        self._free, self._replies = None, {}
        self._played = asyncio.get_running_loop().create_future()
        ended = False
        try:
            while not ended or pending:
                while not ended and (len(pending) < CHUNK or not queue.empty()):
                    chunk = await queue.get() if len(pending) < CHUNK else queue.get_nowait()
                    if chunk is None:
                        ended = True
                        break
                    if conv is not None:
                        chunk = conv.convert(chunk)
                    pending += chunk.audio
                while len(pending) >= CHUNK or (ended and pending):
                    if not await self._room():
                        await asyncio.sleep(_LEAD_S)
                        continue
                    piece = bytes(pending[:CHUNK])
                    del pending[:CHUNK]
                    seq = await self.board.send(
                        "play", pcm=base64.b64encode(piece).decode())
                    self._replies[seq] = len(piece)
                    sent += len(piece)
            await self.board.send("play", end=True)
            seconds = sent / 2 / 16000
            try:
                ev = await asyncio.wait_for(self._played, seconds + _PLAYED_GRACE_S)
            except asyncio.TimeoutError:
                self.say("the board did not report the reply played within %.1f s"
                         % (seconds + _PLAYED_GRACE_S))
                return
            self.last = {"seconds": seconds, "underruns": ev.get("underruns", 0),
                         "board_ms": ev.get("ms")}
            self.say("played %.2f s on the board's speaker (%d underruns)"
                     % (seconds, ev.get("underruns", 0)))
            if peer is not None:
                from wyoming.snd import Played

                await peer.send(Played().event())
        except EarshotError as e:
            self.say("the board could not play: %s" % e)

    async def _room(self):
        """Is there room on the board for one more chunk? From its last word, conservatively
        (commands still unanswered count as queued); with nothing unanswered and that word
        stale, an empty `play` asks again (the board drains as it plays)."""
        if self._free is not None and self._free - sum(self._replies.values()) >= CHUNK:
            return True
        if not self._replies and (self._free is None or
                                  time.monotonic() - self._free_at > _LEAD_S):
            self._replies[await self.board.send("play")] = 0
        return False


def chime_pcm(rate, seconds=0.6):
    """Two tones (880 Hz, then 660 Hz), 16-bit mono at `rate`, quiet enough to be polite."""
    out = bytearray()
    n = int(rate * seconds)
    for i in range(n):
        f = 880.0 if i < n // 2 else 660.0
        fade = min(1.0, i / (rate * 0.01), (n - i) / (rate * 0.01))
        out += struct.pack("<h", int(6000 * fade * math.sin(2 * math.pi * f * i / rate)))
    return bytes(out)
