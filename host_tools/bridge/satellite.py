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
- One truth about mute (docs/household.md, "Home Assistant"): `pause-satellite` is Home
  Assistant's own switch, "send Home Assistant nothing", not the board's microphone. The
  pipeline is paused: no session goes to it, a stream to it ends, the page says "paused by Home
  Assistant", until Home Assistant sends `run-satellite` (it does exactly when its switch is
  off and it connects). Home Assistant sends `pause-satellite` on every teardown (restart,
  reload, disable: homeassistant/components/wyoming/assist_satellite.py, run()'s finally), so a
  restart pauses and the reconnect resumes: it never leaves a board muted. The board's mute is
  the household's, at the board (button or switch); the bridge never mutes or unmutes it.
- One connection at a time, the right one (wyoming_satellite/event_handler.py: `describe` is
  answered on any connection; the first other event makes a connection the server only while
  none is set). `describe` and `ping` are answered on any connection and take nothing over
  (Home Assistant's zeroconf rediscovery and config-flow probe send only `describe`). Any other
  event makes a connection the pipeline's server only if there is none or the current one has
  been quiet for QUIET_S (Home Assistant pings every 2 s and gives up after 5 s without a pong:
  its _PING_SEND_DELAY and _PING_TIMEOUT; wyoming-satellite's _PING_SEND_DELAY and
  _PONG_TIMEOUT are the same 2 and 5). Otherwise the newcomer is refused with an `error`
  event, closed, and the refusal shown.
- A peer that disconnects loses nothing: the board, its consent and the session counters live
  elsewhere; a peer that connects again gets the next session.
- A board that is gone (its port closed, or silent) is not offered to Home Assistant: the
  endpoints stop listening and their connections close, so Home Assistant sees the satellite
  go away (it cannot connect, and its entities go unavailable on its next start or reload);
  they listen again when the board answers.
- Replies: a board with a speaker asks for text-to-speech (`run-pipeline` ends at `tts`, with
  its `snd_format`); Home Assistant's reply and announcements (`audio-start/chunk/stop`) are
  played on it (speaker.py) and answered with `played`. A board without one ends at `handle`
  and announces no `snd` program. Timers (`timer-*`) show on the page; a finished one is
  announced on the speaker.
"""

import asyncio
import functools
import sys
import time

from wyoming.asr import Transcript
from wyoming.audio import AudioChunk, AudioStart, AudioStop
from wyoming.error import Error
from wyoming.event import Event
from wyoming.info import (Attribution, Describe, Info, Satellite, SndProgram, WakeModel,
                          WakeProgram)
from wyoming.ping import Ping, Pong
from wyoming.pipeline import PipelineStage, RunPipeline
from wyoming.satellite import PauseSatellite, RunSatellite
from wyoming.server import AsyncEventHandler, AsyncServer
from wyoming.snd import Played
from wyoming.tts import Synthesize
from wyoming.wake import Detection

from ..errors import EarshotError
from ..records.sessions import SAMPLE_RATE
from . import pipelines as declared
from .bounded import BoundedReader, FrameTooLarge
from .speaker import Speaker, snd_format
from .timers import Timers

ATTRIBUTION = Attribution(name="Earshot", url="https://pypi.org/project/earshot/")
# A connection that has sent nothing for this long may be replaced by a new one: Home
# Assistant pings a satellite _PING_SEND_DELAY (2 s) after each pong and gives up after
# _PING_TIMEOUT (5 s) (homeassistant/components/wyoming/assist_satellite.py); wyoming-satellite
# drops a server that misses a pong by the same rule (_PING_SEND_DELAY 2, _PONG_TIMEOUT 5 in
# wyoming_satellite/satellite.py). A live Home Assistant is never quiet this long.
QUIET_S = 7.0
_PASSIVE = ("describe", "ping", "pong")  # answered on any connection; take nothing over


def _say(text):
    print("bridge: %s" % text, file=sys.stderr, flush=True)


class Peer(AsyncEventHandler):
    """One Home Assistant connection to one pipeline's endpoint."""

    def __init__(self, bridge, pipeline, reader, writer):
        super().__init__(BoundedReader(reader), writer)
        self.bridge = bridge
        self.pipeline = pipeline
        self.done = False  # it finished with the current session (transcript or error)
        self.gone = False
        self.heard = time.monotonic()  # when it last sent anything
        self.serving = False  # the pipeline's server: the one that receives its sessions
        peer = writer.get_extra_info("peername")
        self.address = peer[0] if isinstance(peer, tuple) else "local"
        if self.address != "local" and not declared.allowed(self.address, bridge.allow):
            bridge.say("refused a Wyoming connection from %s to pipeline %s (not --allow'ed)"
                       % (self.address, pipeline.name))
            self.gone = True
            writer.close()
        else:
            bridge.opened(self)

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
        self.heard = time.monotonic()
        kind = event.type
        if Describe.is_type(kind):
            await self.send(self.bridge.info(self.pipeline))
            return True
        if Ping.is_type(kind):
            await self.send(Pong(text=Ping.from_event(event).text).event())
            return True
        if kind in _PASSIVE:
            return True
        if not self.serving and not await self.bridge.take_over(self, kind):
            return False  # refused (and told): the connection closes
        if RunSatellite.is_type(kind):
            await self.bridge.resume(self)
        elif PauseSatellite.is_type(kind):
            await self.bridge.pause(self)
        elif Transcript.is_type(kind) or Error.is_type(kind):
            self.done = True
            await self.bridge.peer_finished(self)
        elif Synthesize.is_type(kind):
            self.bridge.say("Home Assistant answers on pipeline %s: %r"
                            % (self.pipeline.name, Synthesize.from_event(event).text[:120]))
        elif AudioStart.is_type(kind) or AudioChunk.is_type(kind) or AudioStop.is_type(kind):
            await self.bridge.sound(self, event)
        elif kind.startswith("timer-"):
            await self.bridge.timer(self, event)
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

    def close(self):
        self.gone = True
        try:
            self.writer.close()
        except (OSError, RuntimeError):
            pass


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
    def __init__(self, board, pipelines, allow=(), say=_say, test_sessions=False, area=None):
        self.board = board
        self.test_sessions = test_sessions  # forward test-mode sessions (marked): a test rig
        self.allow = list(allow)
        self.pipelines = list(pipelines)
        self.area = area
        self.say = say
        self.peers = {p.name: None for p in self.pipelines}  # the server of each pipeline
        self.paused = {p.name: False for p in self.pipelines}  # by Home Assistant's switch
        self.connections = set()  # every open connection, serving or not
        self.active = []  # peers receiving the open session
        self.session = None  # the open session's header facts
        self.speaker = Speaker(board, say)
        self.timers = Timers(self._show_timers)
        self.board_up = True
        self._servers = []
        self._task = None

    async def start(self):
        await self._listen()
        queue = asyncio.Queue()
        self.board.listen_into(queue)
        self._task = asyncio.create_task(self._pump(queue), name="wyoming bridge")
        self._show_pipelines()

    async def _listen(self):
        for p in self.pipelines:
            server = AsyncServer.from_uri(p.uri)
            try:
                await server.start(functools.partial(Peer, self, p))
            except OSError as e:
                await self._unlisten()
                raise EarshotError("cannot listen on %s for pipeline %s: %s" % (
                    p.uri, p.name, e.strerror or e)) from None
            self._servers.append(server)

    async def _unlisten(self):
        servers, self._servers = self._servers, []
        for server in servers:
            await server.stop()
        for peer in list(self.connections):
            peer.close()
        self.connections.clear()
        for name in self.peers:
            self.peers[name] = None
        self.active = []

    async def stop(self):
        if self._task is not None:
            self._task.cancel()
        await self._unlisten()

    # -- what Home Assistant sees ------------------------------------------------------------

    def info(self, pipeline):
        b = self.board.view.board
        wake = b.get("wake_word")
        name = "Earshot %s" % (b.get("device_id") or self.board.port)
        models = [WakeModel(name=wake, attribution=ATTRIBUTION, installed=True,
                            description="runs on the board itself", version=None,
                            languages=["en"], phrase=wake.replace("_", " "))] if wake else []
        fmt = snd_format(self.board)
        snd = [SndProgram(name="earshot-speaker", attribution=ATTRIBUTION, installed=True,
                          description="the board's own speaker", version=None,
                          snd_format=fmt)] if fmt else []
        return Info(
            satellite=Satellite(
                name=name, attribution=ATTRIBUTION, installed=True,
                description="%s, forwarding only what the household's consent allows "
                            "(pipeline %s)" % (name, pipeline.name),
                version=b.get("version"), area=self.area, has_vad=True,
                active_wake_words=[wake] if wake else [], max_active_wake_words=1,
                supports_trigger=False),
            wake=[WakeProgram(name="earshot", attribution=ATTRIBUTION, installed=True,
                              description="Earshot's on-device wake word", version=None,
                              models=models)],
            snd=snd,
        ).event()

    # -- peers -------------------------------------------------------------------------------

    def opened(self, peer):
        self.connections.add(peer)

    async def take_over(self, peer, kind):
        """May `peer` (which sent `kind`, not describe/ping) become its pipeline's server?"""
        name = peer.pipeline.name
        old = self.peers.get(name)
        if old is not None and old is not peer and not old.gone:
            quiet = time.monotonic() - old.heard
            if quiet < QUIET_S:
                why = ("pipeline %s is served by a live Home Assistant connection (heard %.1f "
                       "s ago); a new one takes over only after %.0f s of quiet"
                       % (name, quiet, QUIET_S))
                self._refuse("a second connection's %s: %s" % (kind, why))
                await peer.send(Error(text=why, code="earshot-busy").event())
                peer.close()
                return False
            self.say("pipeline %s: the connection heard %.1f s ago is replaced" % (name, quiet))
            old.serving = False
            if old in self.active:
                self.active.remove(old)
            old.close()
        peer.serving = True
        self.peers[name] = peer
        self.say("Home Assistant connected to pipeline %s" % name)
        self._show_pipelines()
        return True

    async def disconnected(self, peer):
        self.connections.discard(peer)
        if self.peers.get(peer.pipeline.name) is peer:
            self.peers[peer.pipeline.name] = None
            self.say("Home Assistant left pipeline %s" % peer.pipeline.name)
            self._show_pipelines()
            await self.speaker.cancel(peer)
        if peer in self.active:
            self.active.remove(peer)
            if not self.active and self.session is not None:
                await self._stop_board("nobody receives the session any more")

    async def pause(self, peer):
        name = peer.pipeline.name
        if not self.paused[name]:
            self.say("pipeline %s paused by Home Assistant: it is sent nothing until Home "
                     "Assistant resumes it (the board's own mute is unchanged)" % name)
        self.paused[name] = True
        if peer in self.active:
            await peer.send(AudioStop().event())
            self.active.remove(peer)
            if not self.active and self.session is not None:
                await self._stop_board("Home Assistant paused the satellite")
        self._show_pipelines()

    async def resume(self, peer):
        name = peer.pipeline.name
        if self.paused[name]:
            self.say("pipeline %s resumed by Home Assistant" % name)
        self.paused[name] = False
        self._show_pipelines()

    async def peer_finished(self, peer):
        if peer in self.active and all(p.done for p in self.active) and self.session:
            await self._stop_board("Home Assistant has what it needs")

    async def sound(self, peer, event):
        """Home Assistant's reply or an announcement, for the board's speaker."""
        done = await self.speaker.event(peer, event)
        if done:
            await peer.send(Played().event())

    async def timer(self, peer, event):
        finished = self.timers.event(event)
        if finished is not None:
            self.say("timer %s finished: announced on the board" % finished)
            await self.speaker.chime(peer)

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
            elif kind == "link":
                await self._link(data)
            elif kind == "event":
                self.speaker.board_event(data)

    async def _link(self, data):
        up = data.get("state") == "up"
        if up == self.board_up:
            return
        self.board_up = up
        if not up:
            self._refuse("the board is gone (%s): Home Assistant is not offered the satellite "
                         "until it answers again" % (data.get("error") or data.get("state")))
            await self.speaker.cancel(None)
            await self._unlisten()
        else:
            self.say("the board answers again: Home Assistant may connect")
            try:
                await self._listen()
            except EarshotError as e:
                self._refuse(str(e))
        self._show_pipelines()

    async def _session(self, what, data):
        # Audio and the end of a session the bridge did not open (refused) go nowhere.
        if what == "refused":  # a replay, or a header out of the chain: never opened
            self._refuse(data)
        elif what == "open":
            await self._open(data)
        elif what == "audio" and self.session is not None:
            if not data:
                # A gap the board declared (records/sessions.py GAP) carries no audio. An empty
                # chunk must never reach Home Assistant: homeassistant/components/wyoming/
                # assist_satellite.py _stt_stream reads `while chunk := await queue.get()`, so
                # b"" ends the speech-to-text stream; it cut every pre-roll session (which
                # has a gap after its pre-roll) to the pre-roll alone.
                return
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
            if self.paused[p.name]:
                self._refuse("session %s not sent: Home Assistant paused pipeline %s (its mute "
                             "switch)" % (info["session_id"], p.name))
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
        consent = {
            "session_id": info["session_id"], "counter": info["counter"],
            "device_id": info["device_id"], "consent": list(info["consent"]),
            "wake_word": wake, "verified": True, "pipeline": peer.pipeline.name,
        }
        # Every session starts with `detection`, push-to-talk too (named "ptt"), so Home
        # Assistant's log and the household's docs tell the same story.
        detection = Detection(name=wake, timestamp=info["start_ms"]).event()
        fmt = snd_format(self.board)
        run = RunPipeline(start_stage=PipelineStage.ASR,
                          end_stage=PipelineStage.TTS if fmt else PipelineStage.HANDLE,
                          wake_word_name=None if wake == "ptt" else wake).event()
        if fmt:
            # The speaker's format, as wyoming-satellite sends it (RunPipeline.snd_format in
            # the wyoming versions that have the field; the data key is the same).
            run.data["snd_format"] = {"rate": fmt.rate, "width": fmt.width,
                                      "channels": fmt.channels}
        start = AudioStart(rate=SAMPLE_RATE, width=2, channels=1, timestamp=0).event()
        for event in (detection, run, start):
            event.data["earshot"] = dict(consent)
        events = [detection, run, start]
        if info.get("test"):  # only with --forward-test-sessions: every event says so
            for event in events:
                event.data["earshot"]["test"] = True
        for event in events:
            if not await peer.send(event):
                return False
        return True

    def _refuse(self, text):
        self.say("REFUSED " + text)
        self.board.publish("refusal", {"who": "bridge", "text": text, "at": time.time()})

    def _show_timers(self, rows):
        self.board.publish("timers", rows)

    def _show_pipelines(self):
        rows = []
        for p in self.pipelines:
            peer = self.peers.get(p.name)
            state = "Home Assistant connected" if peer and not peer.gone else \
                "waiting for Home Assistant"
            if not self.board_up:
                state = "not offered to Home Assistant: the board is gone"
            elif self.paused[p.name]:
                state = "paused by Home Assistant (its mute switch): nothing is sent to it"
            rows.append({"name": p.name, "uri": p.uri, "uses": sorted(p.uses), "state": state,
                         "paused": self.paused[p.name],
                         "text": "%s: %s" % (p.describe(where=False), state)})
        self.board.publish("pipelines", rows)
