"""`earshot bridge` against a real Wyoming peer on loopback (the part Home Assistant plays,
built from the `wyoming` library) and a virtual board.

The module's tests share one board and one bridge, like a day in a household: the board boots
private (nothing streams), the household raises consent with the board's button, sessions go
only to the pipelines their consent allows, Home Assistant pauses and reconnects. Each test
sets the consent and mute it needs with the board's buttons (an xdist worker may start the
module's fixtures afresh between tests). The last test puts
a tampering cable between a second board and the bridge.
"""

import asyncio
import socket
import threading
import time

import pytest
from wyoming.audio import AudioChunk, AudioStart, AudioStop
from wyoming.client import AsyncTcpClient
from wyoming.info import Describe, Info
from wyoming.satellite import PauseSatellite, RunSatellite
from wyoming.timer import TimerFinished, TimerStarted

from host_tools.hil.fixtures import KEY, silence, speech_like, wait_for
from host_tools.link.protocol import (T_SESSION_CHUNK, T_SESSION_CLOSE, T_SESSION_HEADER,
                                      FrameParser, encode_frame)
from host_tools.records import sessions
from host_tools.resources import audio
from host_tools.sim.world import read_pcm
from tests.cable import Cable
from tests.household import Earshot, key_file, provisioned_board, unmute

pytestmark = pytest.mark.xdist_group("wyoming-bridge")
SESSION_TYPES = (T_SESSION_HEADER, T_SESSION_CHUNK, T_SESSION_CLOSE)
BLUE = (0, 0, 255)  # the status LED of `assistant` (firmware consent.COLOURS)
GREEN = (0, 255, 0)  # `private`


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Peer:
    """A Wyoming client on its own event loop thread: what Home Assistant does to a satellite
    (homeassistant/components/wyoming/assist_satellite.py _connect_and_loop: `run-satellite`,
    then `describe`). `run=False`: only `describe`, as its config flow and zeroconf probe do."""

    def __init__(self, port, run=True):
        self.events = []
        self.loop = asyncio.new_event_loop()
        self.client = AsyncTcpClient("127.0.0.1", port)
        threading.Thread(target=self.loop.run_forever, daemon=True).start()
        self._call(self.client.connect())
        self._reader = asyncio.run_coroutine_threadsafe(self._read(), self.loop)
        if run:
            self.send(RunSatellite().event())
        self.send(Describe().event())
        self.info = Info.from_event(self.wait_for("info"))

    def _call(self, coro, timeout=10):
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    async def _read(self):
        while True:
            event = await self.client.read_event()
            if event is None:
                return
            self.events.append(event)

    def send(self, event):
        self._call(self.client.write_event(event))

    def types(self):
        return [e.type for e in self.events]

    def wait_for(self, kind, timeout=20, after=0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for e in self.events[after:]:
                if e.type == kind:
                    return e
            time.sleep(0.02)
        raise AssertionError("no %s within %ss; got %s" % (kind, timeout, self.types()))

    def audio(self, after=0):
        return b"".join(e.payload or b"" for e in self.events[after:] if e.type == "audio-chunk")

    def kill(self):
        """The peer dies: its connection is cut without a goodbye."""
        self.loop.call_soon_threadsafe(self.client._writer.transport.abort)
        time.sleep(0.1)
        self.loop.call_soon_threadsafe(self.loop.stop)

    def close(self):
        if self.loop.is_running():
            self._call(self.client.disconnect())
            self.loop.call_soon_threadsafe(self.loop.stop)


def board_sessions(tap):
    """The sessions the board sent on its serial port, verified here: [(info, pcm)]."""
    records = [f.payload for f in FrameParser().feed(bytes(tap)) if f.type in SESSION_TYPES]
    result = sessions.verify_stream(records, KEY)
    assert result.ok, result.failure
    out, pcm = [], []
    for r in records:
        rec = sessions.parse_record(r)
        if isinstance(rec, sessions.Chunk):
            pcm.append(rec.pcm)
        elif isinstance(rec, sessions.Close):
            out.append(b"".join(pcm))
            pcm = []
    return list(zip(result.sessions, out))


def consent_by_the_button(board, colour):
    """Long presses of the action button (the household at the board) until the status LED
    shows `colour`: private -> assistant -> history -> contribute -> private."""
    for _ in range(4):
        if board.pins()["status_led"] == colour:
            return
        before = board.pins()["status_led"]
        board.press("action", seconds=1.7)
        wait_for(lambda: board.pins()["status_led"] != before)
    assert board.pins()["status_led"] == colour


def say_the_wake_word(board):
    board.play(silence(0.5) + read_pcm(audio("alexa_en-us.wav")) + speech_like(1.5)
               + silence(1.5))


@pytest.fixture(scope="module")
def board(firmware_image, tmp_path_factory):
    b = provisioned_board(firmware_image, tmp_path_factory.mktemp("wy-board"))
    unmute(b)
    yield b
    b.close()


@pytest.fixture(scope="module")
def bridge(board, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("wy")
    ports = {"home": free_port(), "review": free_port()}
    config = tmp / "pipelines.toml"
    config.write_text("""
[pipelines.home]              # e.g. Home Assistant with Home Assistant Cloud speech-to-text
listen = "tcp://127.0.0.1:%(home)d"
cloud = true
human_review = false
retain = false
training = false

[pipelines.review]            # a service whose contractors listen to recordings
listen = "tcp://127.0.0.1:%(review)d"
cloud = true
human_review = true
retain = true
training = false
""" % ports)
    proc = Earshot("bridge", "--port", board.port, "--pipelines", str(config),
                   "--key-file", str(key_file(tmp)), "--area", "Kitchen",
                   env={"EARSHOT_STATE_DIR": str(tmp)})
    proc.wait_line(r"wyoming: pipeline 'review'")
    yield proc, ports
    assert proc.stop() == 0, proc.output


def test_under_private_consent_a_cloud_pipeline_receives_nothing(board, bridge):
    proc, ports = bridge
    consent_by_the_button(board, GREEN)
    unmute(board)
    peer = Peer(ports["home"])
    try:
        tap = board.tap()
        say_the_wake_word(board)
        board.wait_audio_done()
        proc.wait_line(r"Home Assistant connected to pipeline home")
        time.sleep(1.0)
        assert peer.types() == ["info"]  # no detection, no audio: nothing at all
        assert board_sessions(tap) == []  # and the board itself sent no session
    finally:
        peer.close()


def test_wake_word_reaches_the_peer_as_detection_and_the_boards_verified_audio(board, bridge):
    proc, ports = bridge
    consent_by_the_button(board, BLUE)  # the household raises consent: private -> assistant
    unmute(board)
    home, review = Peer(ports["home"]), Peer(ports["review"])
    try:
        assert home.info.satellite is not None
        assert [m.name for p in home.info.wake for m in p.models] == ["alexa"]
        tap = board.tap()
        say_the_wake_word(board)
        stop = home.wait_for("audio-stop", timeout=30)
        assert home.types()[1:4] == ["detection", "run-pipeline", "audio-start"]
        assert home.wait_for("detection").data["name"] == "alexa"
        run = home.wait_for("run-pipeline").data
        # The board has a speaker: Home Assistant is asked for its spoken reply, in the
        # speaker's format (as wyoming-satellite asks with --snd-command).
        assert (run["start_stage"], run["end_stage"]) == ("asr", "tts")
        assert run["snd_format"] == {"rate": 16000, "width": 2, "channels": 1}
        assert home.info.satellite.area == "Kitchen"
        assert [p.snd_format.rate for p in home.info.snd] == [16000]
        start = home.wait_for("audio-start")
        assert start.data["rate"] == 16000 and start.data["width"] == 2
        [(info, pcm)] = board_sessions(tap)
        assert start.data["earshot"]["consent"] == ["cloud"] == info.consent
        assert start.data["earshot"]["session_id"] == info.session_id
        # The consent block rides on every event of the session's start, `detection` and
        # `run-pipeline` too. Home Assistant 2025.4 shows none of them in its interface; they
        # reach its debug log (docs/household.md says so).
        assert home.wait_for("detection").data["earshot"]["consent"] == ["cloud"]
        # The bytes-equal check: what reached Home Assistant is exactly the audio the board
        # signed, verified here independently from a tap on the board's serial port.
        assert home.audio() == pcm and len(pcm) > 16000
        assert stop.type == "audio-stop"
        time.sleep(0.5)
        assert review.types() == ["info"]  # human_review declared, not consented: nothing
        proc.wait_line(r"REFUSED session %s not sent: pipeline 'review' lets people listen"
                       % info.session_id)
    finally:
        home.close()
        review.close()


def test_pause_satellite_is_home_assistants_switch_and_a_restart_leaves_nothing_muted(board,
                                                                                   bridge):
    # One truth about mute: Home Assistant's switch pauses what Home Assistant is sent, and only
    # Home Assistant undoes it (run-satellite); the board's microphone is the household's.
    # Before, pause-satellite muted the board, which only its button could undo, and Home
    # Assistant sends pause-satellite on every teardown: each restart left the board muted.
    proc, ports = bridge
    consent_by_the_button(board, BLUE)
    unmute(board)
    peer = Peer(ports["home"])
    again = None
    try:
        peer.send(PauseSatellite().event())
        proc.wait_line(r"pipeline home paused by Home Assistant")
        mark = len(peer.events)
        say_the_wake_word(board)
        proc.wait_line(r"REFUSED session \w+ not sent: Home Assistant paused pipeline home")
        board.wait_audio_done()
        time.sleep(0.5)
        assert [e.type for e in peer.events[mark:]] == []  # paused: nothing at all
        assert board.pins()["mic_power"] == 1 and board.pins()["mute_led"] == 0
        # Home Assistant restarts: pause-satellite on teardown, the socket closes, and the new
        # run connects and sends run-satellite (its switch is off).
        peer.close()
        again = Peer(ports["home"])
        proc.wait_line(r"pipeline home resumed by Home Assistant")
        mark = len(again.events)
        say_the_wake_word(board)
        again.wait_for("audio-stop", timeout=30, after=mark)
        assert board.pins()["mic_power"] == 1 and board.pins()["mute_led"] == 0
    finally:
        peer.close()
        if again is not None:
            again.close()


def test_a_killed_peer_and_a_reconnect_lose_no_state_and_never_unmute(board, bridge):
    proc, ports = bridge
    consent_by_the_button(board, BLUE)
    unmute(board)
    first = Peer(ports["home"])
    tap = board.tap()
    say_the_wake_word(board)
    try:
        first.wait_for("audio-chunk", timeout=30)
    except AssertionError as e:
        seen = FrameParser().feed(bytes(tap))[:12]
        raise AssertionError("%s\npins %s, board time %.1f s, serial: %s\nbridge said:\n%s" % (
            e, board.pins(), board.time_s, seen, proc.output)) from None
    first.kill()  # Home Assistant dies in the middle of a session
    board.wait_audio_done()
    time.sleep(1.0)
    assert board.pins()["mic_power"] == 1 and board.pins()["status_led"] == BLUE
    second = Peer(ports["home"])
    try:
        mark = len(second.events)
        say_the_wake_word(board)
        start = second.wait_for("audio-start", timeout=30, after=mark)
        second.wait_for("audio-stop", timeout=30, after=mark)
        done = board_sessions(tap)
        assert len(done) == 2 and done[1][0].counter > done[0][0].counter
        assert start.data["earshot"]["counter"] == done[1][0].counter
        assert second.audio(mark) == done[1][1]
        # It dies again and a new connection takes over at once (the old one is gone, not
        # merely quiet); the board's mute and consent were never touched.
        second.kill()
        third = Peer(ports["home"])
        proc.wait_line(r"Home Assistant connected to pipeline home")
        assert board.pins()["mic_power"] == 1 and board.pins()["mute_led"] == 0
        assert board.pins()["status_led"] == BLUE  # consent untouched throughout
        third.close()
    finally:
        second.close()
    assert proc.proc.poll() is None  # the bridge rode it out


def test_a_connection_that_never_spoke_wyoming_does_not_take_home_assistant_s_place(board,
                                                                                     bridge):
    # Before, any loopback connection became the pipeline's peer at once ("newest wins") and
    # was announced as Home Assistant: one silent or junk connection cut Home Assistant off.
    proc, ports = bridge
    consent_by_the_button(board, BLUE)
    unmute(board)
    home = Peer(ports["home"])  # describe -> info: it spoke Wyoming
    proc.wait_line(r"Home Assistant connected to pipeline home")
    mark = len(proc.lines)
    silent = socket.create_connection(("127.0.0.1", ports["home"]), timeout=10)
    junk = socket.create_connection(("127.0.0.1", ports["home"]), timeout=10)
    junk.sendall(b'{"type": "not-a-wyoming-event"}\n')
    try:
        time.sleep(0.5)
        say_the_wake_word(board)
        home.wait_for("audio-stop", timeout=30)  # Home Assistant still gets the session
        assert not [line for line in proc.lines[mark:] if "connected to pipeline" in line]
    finally:
        silent.close()
        junk.close()
        home.close()


def test_describe_on_another_connection_is_answered_and_takes_nothing_over(board, bridge):
    # Home Assistant's zeroconf rediscovery and config-flow probe open a second connection and
    # send only `describe`. Before, that connection became the pipeline's peer and the live
    # one was cut off (what was said in between was lost).
    proc, ports = bridge
    consent_by_the_button(board, BLUE)
    unmute(board)
    home = Peer(ports["home"])
    probe = None
    try:
        proc.wait_line(r"Home Assistant connected to pipeline home")
        mark = len(proc.lines)
        probe = Peer(ports["home"], run=False)  # describe -> info, nothing else
        assert probe.info.satellite.name == home.info.satellite.name
        mark_home = len(home.events)
        say_the_wake_word(board)
        home.wait_for("audio-stop", timeout=30, after=mark_home)
        time.sleep(0.3)
        assert probe.types() == ["info"]
        assert not [line for line in proc.lines[mark:] if "connected to pipeline" in line]
    finally:
        home.close()
        if probe is not None:
            probe.close()


def test_a_second_run_satellite_is_refused_until_the_live_connection_has_been_quiet(board,
                                                                                   bridge):
    # wyoming-satellite keeps its server until it goes away; Earshot also lets a newcomer take
    # over once the old connection has said nothing for QUIET_S (7 s: Home Assistant's ping
    # every 2 s plus its 5 s pong timeout), so a half-dead Home Assistant cannot hold it.
    from host_tools.bridge.satellite import QUIET_S

    proc, ports = bridge
    home = Peer(ports["home"])
    second = third = None
    try:
        proc.wait_line(r"Home Assistant connected to pipeline home")
        second = Peer(ports["home"], run=False)
        t0 = time.monotonic()
        second.send(RunSatellite().event())
        refusal = second.wait_for("error")
        assert refusal.data["code"] == "earshot-busy"
        proc.wait_line(r"REFUSED a second connection's run-satellite: pipeline home is served")
        mark = len(proc.lines)
        time.sleep(max(0.0, QUIET_S + 0.5 - (time.monotonic() - t0)))
        third = Peer(ports["home"])  # the first said nothing for QUIET_S: replaced
        proc.wait_line(r"pipeline home: the connection heard [\d.]+ s ago is replaced")
        assert [line for line in proc.lines[mark:] if "connected to pipeline home" in line]
    finally:
        for p in (home, second, third):
            if p is not None:
                p.close()


def test_push_to_talk_sends_detection_too(board, bridge):
    _, ports = bridge
    consent_by_the_button(board, BLUE)
    unmute(board)
    home = Peer(ports["home"])
    try:
        mark = len(home.events)
        board.press("action")  # push-to-talk
        board.play(speech_like(1.5) + silence(1.5))
        home.wait_for("audio-stop", timeout=30, after=mark)
        kinds = [e.type for e in home.events[mark:]]
        assert kinds[:3] == ["detection", "run-pipeline", "audio-start"]
        assert home.wait_for("detection", after=mark).data["name"] == "ptt"
    finally:
        home.close()


def tts_events(pcm16k, rate=22050):
    """Home Assistant's reply as it sends it: 22050 Hz chunks of 1024 samples
    (assist_satellite.py _TTS_SAMPLE_RATE, _AUDIO_CHUNK_BYTES)."""
    import numpy as np

    x = np.frombuffer(pcm16k, dtype="<i2").astype(np.float64)
    n = int(len(x) * rate / 16000)
    y = np.interp(np.arange(n) * 16000 / rate, np.arange(len(x)), x).astype("<i2").tobytes()
    events = [AudioStart(rate=rate, width=2, channels=1, timestamp=0).event()]
    for i in range(0, len(y), 2048):
        events.append(AudioChunk(rate=rate, width=2, channels=1, audio=y[i:i + 2048]).event())
    events.append(AudioStop().event())
    return events, len(y) / 2 / rate


def test_home_assistants_reply_plays_on_the_speaker_and_is_answered_with_played(board, bridge):
    proc, ports = bridge
    home = Peer(ports["home"])
    try:
        since = board.time_s
        events, seconds = tts_events(speech_like(2.0))
        for e in events:
            home.send(e)
        home.wait_for("played", timeout=30)
        played = board.speaker_played(since)
        heard = sum(len(p) for _, p in played) / 32000
        # All of it, in board time, frame after frame (one 20 ms frame per board frame).
        assert seconds - 0.05 <= heard <= seconds + 0.1, (heard, seconds)
        assert played[-1][0] - played[0][0] == pytest.approx(heard - 0.02, abs=0.2)
        proc.wait_line(r"played [\d.]+ s on the board's speaker")
    finally:
        home.close()


def test_the_boards_own_voice_saying_the_wake_word_opens_no_session(board, bridge):
    # The speaker plays "alexa" (as a reply or announcement could) and the microphone hears it
    # as loud as it was played (the virtual board's acoustic path, sim/world.py ECHO_GAIN):
    # the detector is kept from hearing while the board speaks and for a tail after.
    proc, ports = bridge
    consent_by_the_button(board, BLUE)
    unmute(board)
    home = Peer(ports["home"])
    try:
        tap = board.tap()
        mark = len(home.events)
        events, _ = tts_events(silence(0.3) + read_pcm(audio("alexa_en-us.wav")) +
                               speech_like(1.0))
        for e in events:
            home.send(e)
        home.wait_for("played", timeout=30, after=mark)
        board.advance(1.0)
        # advance() passes board time without the host's clock: give a detection the wall
        # time to cross the serial line, the bridge and TCP before looking for its absence
        time.sleep(1.0)
        assert board.pins()["mic_power"] == 1  # it was listening throughout
        assert [e.type for e in home.events[mark:]] == ["played"]  # no detection, no audio
        assert board_sessions(tap) == []  # and the board opened no session
        # The same word from the room (not the speaker) still wakes it: the gate is the
        # speaker's, not a deaf microphone.
        mark = len(home.events)
        say_the_wake_word(board)
        home.wait_for("audio-stop", timeout=30, after=mark)
    finally:
        home.close()


def test_the_status_light_dims_while_the_board_speaks_and_mute_still_cuts_the_mic(board,
                                                                                  bridge):
    _, ports = bridge
    consent_by_the_button(board, BLUE)
    unmute(board)
    home = Peer(ports["home"])
    try:
        since = board.probe_time()
        events, _ = tts_events(speech_like(3.0))
        for e in events:
            home.send(e)
        wait_for(lambda: board.pins()["status_led"] == (0, 0, 63), timeout=20)
        board.press("mute")  # the household mutes while it speaks
        wait_for(lambda: board.pins()["mic_power"] == 0 and board.pins()["mute_led"] == 1)
        home.wait_for("played", timeout=30)
        wait_for(lambda: board.pins()["status_led"] == BLUE)
        edges = [(t, v) for t, name, v in board.edges(since) if name == "status_led"]
        assert (0, 0, 63) in [v for _, v in edges]
    finally:
        home.close()
        unmute(board)


def test_a_finished_timer_is_announced_on_the_speaker(board, bridge):
    proc, ports = bridge
    home = Peer(ports["home"])
    try:
        since = board.time_s
        home.send(TimerStarted(id="t1", total_seconds=60, name="tea").event())
        home.send(TimerFinished(id="t1").event())
        proc.wait_line(r"timer tea finished: announced on the board")
        wait_for(lambda: sum(len(p) for _, p in board.speaker_played(since)) >= 0.5 * 32000,
                 timeout=20)
    finally:
        home.close()


def test_malformed_wyoming_input_is_dropped_with_one_line_and_the_bridge_serves_on(bridge):
    # A frame that is JSON but no object, a data length that never comes, a header line with no
    # end, bytes that are no JSON: each connection is dropped, with one line saying so (before:
    # a "Task exception was never retrieved" traceback for each); the bridge answers the next.
    proc, ports = bridge
    for junk in (b"[1, 2, 3]\n", b'{"type": "describe", "data_length": 1000000000000}\n',
                 b"x" * (2 << 20), b"\xff\xfe not json\n"):
        with socket.create_connection(("127.0.0.1", ports["home"]), timeout=10) as s:
            try:
                s.sendall(junk)
                s.shutdown(socket.SHUT_WR)
                s.recv(100)
            except OSError:
                pass  # the bridge may cut a flood short: that is the point
    time.sleep(0.5)
    peer = Peer(ports["home"])  # describe -> info, as always
    peer.close()
    assert "Traceback" not in proc.output, proc.output
    assert proc.wait_line(r"dropped a Wyoming connection to pipeline home: ")


def test_an_oversized_wyoming_frame_is_refused_at_its_header_line(bridge):
    # The wyoming library reads whatever data_length/payload_length a header line states
    # (readexactly buffers it all). Before, a peer announcing 50 MB was waited for, and every
    # byte it sent buffered; now the header line alone drops the connection, with one line.
    proc, ports = bridge
    for field in ("data_length", "payload_length"):
        mark = len(proc.lines)
        with socket.create_connection(("127.0.0.1", ports["home"]), timeout=10) as s:
            s.sendall(b'{"type": "audio-chunk", "%s": 50000000}\n' % field.encode())
            assert s.recv(100) == b""  # closed by the bridge, before any of the 50 MB
        proc.wait_line(r"dropped a Wyoming connection to pipeline home: %s 50000000 is over "
                       r"the \d+ bytes" % field)
        assert len([line for line in proc.lines[mark:] if "dropped a Wyoming" in line]) == 1
    assert "Traceback" not in proc.output


class TamperingCable(Cable):
    """Flips one byte of the PCM in chunk `index` and fixes the frame's CRC, so only the
    session's signature can tell."""

    def __init__(self, port, index=3):
        super().__init__(port)
        self.index = index
        self.tampered = 0

    def rewrite(self, frame):
        payload = frame.payload
        if frame.type == T_SESSION_CHUNK and sessions.parse_record(payload).index == self.index:
            payload = payload[:20] + bytes([payload[20] ^ 0x01]) + payload[21:]
            self.tampered += 1
        return [encode_frame(frame.type, frame.seq, payload)]


def test_a_chunk_that_fails_verification_ends_the_stream(firmware_image, tmp_path):
    board = provisioned_board(firmware_image, tmp_path / "b")
    cable = TamperingCable(board.port)
    cable.start()
    port = free_port()
    proc = Earshot("bridge", "--port", cable.url, "--wyoming", "tcp://127.0.0.1:%d" % port,
                   "--key-file", str(key_file(tmp_path)),
                   env={"EARSHOT_STATE_DIR": str(tmp_path)})
    try:
        proc.wait_line(r"wyoming: pipeline")
        board.press("action", seconds=1.7)  # private -> assistant, on the board
        unmute(board)
        peer = Peer(port)
        say_the_wake_word(board)
        peer.wait_for("audio-stop", timeout=30)
        chunks = [e for e in peer.events if e.type == "audio-chunk"]
        assert cable.tampered == 1 and len(chunks) == 3  # chunks 0-2 verified; 3 did not
        proc.wait_line(r"REFUSED stream of session \w+ ended: chunk 3: modified")
        proc.wait_line(r"asked the board to end the session")
        peer.close()
    finally:
        assert proc.stop() == 0, proc.output
        cable.ser.close()
        board.close()


def test_zeroconf_announces_the_satellite_as_wyoming_satellite_does(firmware_image, tmp_path):
    pytest.importorskip("zeroconf", reason="pip install 'earshot[zeroconf]'")
    from zeroconf import Zeroconf

    board = provisioned_board(firmware_image, tmp_path / "b")
    port, name = free_port(), "earshot-test-%d" % threading.get_native_id()
    proc = Earshot("bridge", "--port", board.port, "--wyoming", "tcp://127.0.0.1:%d" % port,
                   "--key-file", str(key_file(tmp_path)), "--zeroconf", name,
                   env={"EARSHOT_STATE_DIR": str(tmp_path)})
    try:
        proc.wait_line(r"zeroconf: announced tcp://127.0.0.1:%d" % port)
        zc = Zeroconf()
        try:
            info = zc.get_service_info("_wyoming._tcp.local.",
                                       "%s-home-assistant._wyoming._tcp.local." % name, 5000)
        finally:
            zc.close()
        assert info is not None and info.port == port
    finally:
        assert proc.stop() == 0, proc.output
        board.close()


def test_a_gone_board_is_not_offered_to_home_assistant_until_it_answers_again(firmware_image,
                                                                              tmp_path):
    # Before, the bridge went on answering Home Assistant for a board that was off: HA saw a
    # live satellite that would never hear anything. Now its endpoint stops listening (HA's
    # connection closes and cannot reconnect) until the board answers again.
    board = provisioned_board(firmware_image, tmp_path / "b")
    port = free_port()
    proc = Earshot("bridge", "--port", board.port, "--wyoming", "tcp://127.0.0.1:%d" % port,
                   "--key-file", str(key_file(tmp_path)),
                   env={"EARSHOT_STATE_DIR": str(tmp_path)})
    home = None
    try:
        proc.wait_line(r"wyoming: pipeline")
        home = Peer(port)
        board.power_cut()
        proc.wait_line(r"REFUSED the board is gone", timeout=30)
        wait_for(lambda: home.client._reader.at_eof(), timeout=10)  # HA's connection closed
        with pytest.raises(OSError):
            socket.create_connection(("127.0.0.1", port), timeout=5).close()
        board.power_on()
        proc.wait_line(r"the board answers again: Home Assistant may connect", timeout=60)
        again = Peer(port)
        assert again.info.satellite is not None
        again.close()
    finally:
        if home is not None:
            home.close()
        assert proc.stop() == 0, proc.output
        board.close()
