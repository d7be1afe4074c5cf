"""The board as a Wyoming satellite (the role wyoming-satellite plays for Home Assistant).

Each pipeline (pipelines.py) is a Wyoming server; Home Assistant connects to it, asks
`describe` (we answer `info`: a satellite with the board's on-device wake word) and then
listens. The board's verified facts (hub.board) drive what is sent, in wyoming-satellite's
order for a satellite with a local wake word (rhasspy/wyoming-satellite,
wyoming_satellite/satellite.py, WakeStreamingSatellite.event_from_wake): `detection`, then
`run-pipeline` from the ASR stage, then the audio. Here the audio is framed as
`audio-start` (its data carries the session's consent flags and session id under "earshot"),
`audio-chunk` per verified chunk (16 kHz, 16-bit, mono) and `audio-stop`.

- A session goes only to pipelines whose every declared use its consent allows; the others
  are refused, logged, and shown on the dashboard.
- A session sent in test mode (its header's flags bit 7: the audio may be the host's own,
  played in with `feed`, not anything a person said) is refused like that too: it must never
  reach Home Assistant as a real wake. A test rig that wants them says so
  (`--forward-test-sessions`); each of its events then carries `"earshot": {"test": true}`.
- Only chunks that verified (records.live) are sent; a chunk that fails ends the stream
  (`audio-stop`) and the board is told to stop.
- `pause-satellite` asks the board to mute. Nothing here ever asks it to unmute: the board
  refuses that anyway (only its button unmutes).
- A peer that disconnects loses nothing: the board, its consent and the session counters live
  elsewhere; a peer that connects again gets the next session. As in wyoming-satellite the
  newest peer of a pipeline is the one that receives, but only once it has sent `describe` or
  `run-satellite`: a connection that never spoke Wyoming takes nobody's place.
"""

import asyncio
import functools
import sys
import time

from wyoming.asr import Transcript
from wyoming.audio import AudioChunk, AudioStart, AudioStop
from wyoming.error import Error
from wyoming.event import Event
from wyoming.info import Attribution, Describe, Info, Satellite, WakeModel, WakeProgram
from wyoming.ping import Ping, Pong
from wyoming.pipeline import PipelineStage, RunPipeline
from wyoming.satellite import PauseSatellite, RunSatellite
from wyoming.server import AsyncEventHandler, AsyncServer
from wyoming.wake import Detection

from ..errors import EarshotError
from ..records.sessions import SAMPLE_RATE
from . import pipelines as declared
from .bounded import BoundedReader, FrameTooLarge

ATTRIBUTION = Attribution(name="Earshot", url="https://pypi.org/project/earshot/")


def _say(text):
    print("bridge: %s" % text, file=sys.stderr, flush=True)


class Peer(AsyncEventHandler):
    """One Home Assistant connection to one pipeline's endpoint."""

    def __init__(self, bridge, pipeline, reader, writer):
        super().__init__(BoundedReader(reader), writer)
        self.bridge = bridge
        self.pipeline = pipeline
        self.paused = False
        self.done = False  # it finished with the current session (transcript or error)
        self.gone = False
        # A connection becomes the pipeline's peer (and is announced) only once it has spoken
        # Wyoming as Home Assistant does: `describe` or `run-satellite`. Until then it takes
        # nobody's place, so a silent or junk connection never cuts Home Assistant off.
        self.spoke = False
        peer = writer.get_extra_info("peername")
        self.address = peer[0] if isinstance(peer, tuple) else "local"
        if self.address != "local" and not declared.allowed(self.address, bridge.allow):
            bridge.say("refused a Wyoming connection from %s to pipeline %s (not --allow'ed)"
                       % (self.address, pipeline.name))
            self.gone = True
            writer.close()

    async def run(self) -> None:
        # wyoming's reader raises on a frame it cannot take (JSON that is no object, a length
        # that never arrives, a line over its limit); the library would leave that as an
        # unretrieved task exception with a traceback. One line, and the connection goes.
        try:
            await super().run()
        except (ValueError, AttributeError, TypeError, KeyError, asyncio.IncompleteReadError,
                ConnectionError, FrameTooLarge) as e:
            self.bridge.say("dropped a Wyoming connection to pipeline %s: %s" % (
                self.pipeline.name, _why(e)))

    async def handle_event(self, event: Event) -> bool:
        if self.gone:
            return False
        if not self.spoke and (Describe.is_type(event.type) or
                               RunSatellite.is_type(event.type)):
            self.spoke = True
            self.bridge.connected(self)
        if Describe.is_type(event.type):
            await self.send(self.bridge.info(self.pipeline))
        elif Ping.is_type(event.type):
            await self.send(Pong(text=Ping.from_event(event).text).event())
        elif RunSatellite.is_type(event.type):
            self.paused = False
        elif PauseSatellite.is_type(event.type):
            self.paused = True
            await self.bridge.pause(self)
        elif Transcript.is_type(event.type) or Error.is_type(event.type):
            self.done = True
            await self.bridge.peer_finished(self)
        return True

    async def disconnect(self) -> None:
        self.gone = True
        await self.bridge.disconnected(self)

    async def send(self, event):
        """Write one event; a peer that went away is dropped, never an error for the bridge."""
        if self.gone:
            return False
        try:
            await self.write_event(event)
            return True
        except (ConnectionError, OSError, RuntimeError):
            self.gone = True
            await self.bridge.disconnected(self)
            return False


def _why(e):
    if isinstance(e, asyncio.IncompleteReadError):
        return "it went away in the middle of a frame (%d of %d bytes)" % (
            len(e.partial), e.expected or 0)
    if isinstance(e, ConnectionError):
        return "the connection broke (%s)" % (e.strerror or e)
    if isinstance(e, FrameTooLarge):
        return str(e)
    return "not a Wyoming frame (%s)" % (str(e)[:80] or type(e).__name__)


class Bridge:
    def __init__(self, board, pipelines, allow=(), say=_say, test_sessions=False):
        self.board = board
        self.test_sessions = test_sessions  # forward test-mode sessions (marked): a test rig
        self.allow = list(allow)
        self.pipelines = list(pipelines)
        self.say = say
        self.peers = {p.name: None for p in self.pipelines}
        self.active = []  # peers receiving the open session
        self.session = None  # the open session's header facts
        self._servers = []
        self._task = None

    async def start(self):
        for p in self.pipelines:
            server = AsyncServer.from_uri(p.uri)
            try:
                await server.start(functools.partial(Peer, self, p))
            except OSError as e:
                await self.stop()
                raise EarshotError("cannot listen on %s for pipeline %s: %s" % (
                    p.uri, p.name, e.strerror or e)) from None
            self._servers.append(server)
        queue = asyncio.Queue()
        self.board.listen_into(queue)
        self._task = asyncio.create_task(self._pump(queue), name="wyoming bridge")
        self._show_pipelines()

    async def stop(self):
        if self._task is not None:
            self._task.cancel()
        for server in self._servers:
            await server.stop()

    # -- what Home Assistant sees ------------------------------------------------------------

    def info(self, pipeline):
        b = self.board.view.board
        wake = b.get("wake_word")
        name = "Earshot %s" % (b.get("device_id") or self.board.port)
        models = [WakeModel(name=wake, attribution=ATTRIBUTION, installed=True,
                            description="runs on the board itself", version=None,
                            languages=["en"], phrase=wake.replace("_", " "))] if wake else []
        return Info(
            satellite=Satellite(
                name=name, attribution=ATTRIBUTION, installed=True,
                description="%s, forwarding only what the household's consent allows "
                            "(pipeline %s)" % (name, pipeline.name),
                version=b.get("version"), has_vad=True,
                active_wake_words=[wake] if wake else [], max_active_wake_words=1,
                supports_trigger=False),
            wake=[WakeProgram(name="earshot", attribution=ATTRIBUTION, installed=True,
                              description="Earshot's on-device wake word", version=None,
                              models=models)],
        ).event()

    # -- peers -------------------------------------------------------------------------------

    def connected(self, peer):
        old = self.peers.get(peer.pipeline.name)
        if old is not None and old is not peer:
            old.gone = True  # as wyoming-satellite: the newest connection is the server
            if old in self.active:
                self.active.remove(old)
        self.peers[peer.pipeline.name] = peer
        self.say("Home Assistant connected to pipeline %s" % peer.pipeline.name)
        self._show_pipelines()

    async def disconnected(self, peer):
        if self.peers.get(peer.pipeline.name) is peer:
            self.peers[peer.pipeline.name] = None
            self.say("Home Assistant left pipeline %s" % peer.pipeline.name)
            self._show_pipelines()
        if peer in self.active:
            self.active.remove(peer)
            if not self.active and self.session is not None:
                await self._stop_board("nobody receives the session any more")

    async def pause(self, peer):
        self.say("pipeline %s paused the satellite: asking the board to mute"
                 % peer.pipeline.name)
        if peer in self.active:
            await peer.send(AudioStop().event())
            self.active.remove(peer)
        try:
            await self.board.command("mute")
        except EarshotError as e:
            self.say("the board could not be asked to mute: %s" % e)

    async def peer_finished(self, peer):
        if peer in self.active and all(p.done for p in self.active) and self.session:
            await self._stop_board("Home Assistant has what it needs")

    async def _stop_board(self, why):
        try:
            await self.board.command("stop")
            self.say("asked the board to end the session: %s" % why)
        except EarshotError as e:
            self.say("the board could not be asked to stop: %s" % e)

    # -- the board's facts -------------------------------------------------------------------

    async def _pump(self, queue):
        while True:
            _, kind, data, _ = await queue.get()
            if kind == "session":
                await self._session(*data)

    async def _session(self, what, data):
        # Audio and the end of a session the bridge did not open (refused) go nowhere.
        if what == "refused":  # a replay, or a header out of the chain: never opened
            self._refuse(data)
        elif what == "open":
            await self._open(data)
        elif what == "audio" and self.session is not None:
            ms = self.session["sent"] // (SAMPLE_RATE * 2 // 1000)
            self.session["sent"] += len(data)
            chunk = AudioChunk(rate=SAMPLE_RATE, width=2, channels=1, audio=data,
                               timestamp=ms).event()
            for peer in list(self.active):
                await peer.send(chunk)
        elif what in ("closed", "broken") and self.session is not None:
            stop = AudioStop(timestamp=self.session["sent"] // (SAMPLE_RATE * 2 // 1000))
            for peer in list(self.active):
                await peer.send(stop.event())
            if what == "broken":
                self._refuse("stream of session %s ended: %s" % (
                    self.session["session_id"], data))
                await self._stop_board("a chunk failed verification")
            self.active = []
            self.session = None

    async def _open(self, info):
        try:
            await self._open_to_pipelines(info)
        finally:
            # Where it goes, for the page's banner: the pipelines receiving it, maybe none.
            self.board.publish("forwarding", {"session_id": info.get("session_id"), "to": [
                p.pipeline.name for p in self.active] if self.session else []})

    async def _open_to_pipelines(self, info):
        if not info.get("verified"):
            return  # never forwarded unverified (the bridge always has the key)
        if info.get("test") and not self.test_sessions:
            self._refuse("session %s not sent: it was sent in test mode, so its audio may be "
                         "the host's own, not anything a person said (a test rig can take "
                         "them, marked: --forward-test-sessions)" % info["session_id"])
            return
        self.session = dict(info, sent=0)
        targets = []
        for p in self.pipelines:
            why = p.refusal(info["consent"])
            if why:
                self._refuse("session %s not sent: %s" % (info["session_id"], why))
                continue
            peer = self.peers.get(p.name)
            if peer is None or peer.gone:
                self.say("session %s: no Home Assistant connected to pipeline %s"
                         % (info["session_id"], p.name))
                continue
            if peer.paused:
                self.say("session %s: pipeline %s is paused" % (info["session_id"], p.name))
                continue
            targets.append(peer)
        for peer in targets:
            peer.done = False
            if await self._announce(peer, info):
                self.active.append(peer)
        if targets:
            self.say("session %s (consent %s) to %s" % (
                info["session_id"], ", ".join(info["consent"]) or "none",
                ", ".join(p.pipeline.name for p in self.active) or "nobody"))

    async def _announce(self, peer, info):
        wake = info["wake_word"]
        events = []
        if wake != "ptt":  # push-to-talk is not a wake word: no detection
            events.append(Detection(name=wake, timestamp=info["start_ms"]).event())
        events.append(RunPipeline(start_stage=PipelineStage.ASR, end_stage=PipelineStage.HANDLE,
                                  wake_word_name=None if wake == "ptt" else wake).event())
        start = AudioStart(rate=SAMPLE_RATE, width=2, channels=1, timestamp=0).event()
        start.data["earshot"] = {
            "session_id": info["session_id"], "counter": info["counter"],
            "device_id": info["device_id"], "consent": list(info["consent"]),
            "wake_word": wake, "verified": True, "pipeline": peer.pipeline.name,
        }
        events.append(start)
        if info.get("test"):  # only with --forward-test-sessions: every event says so
            for event in events:
                event.data.setdefault("earshot", {})["test"] = True
        for event in events:
            if not await peer.send(event):
                return False
        return True

    def _refuse(self, text):
        self.say("REFUSED " + text)
        self.board.publish("refusal", {"who": "bridge", "text": text, "at": time.time()})

    def _show_pipelines(self):
        rows = []
        for p in self.pipelines:
            peer = self.peers.get(p.name)
            state = "Home Assistant connected" if peer and not peer.gone else \
                "waiting for Home Assistant"
            if peer and peer.paused:
                state = "paused by Home Assistant"
            rows.append({"name": p.name, "uri": p.uri, "uses": sorted(p.uses), "state": state,
                         "text": "%s: %s" % (p.describe(where=False), state)})
        self.board.publish("pipelines", rows)
