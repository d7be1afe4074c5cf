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
from wyoming.client import AsyncTcpClient
from wyoming.info import Describe, Info
from wyoming.satellite import PauseSatellite, RunSatellite

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
    """A Wyoming client on its own event loop thread: what Home Assistant does to a satellite."""

    def __init__(self, port):
        self.events = []
        self.loop = asyncio.new_event_loop()
        self.client = AsyncTcpClient("127.0.0.1", port)
        threading.Thread(target=self.loop.run_forever, daemon=True).start()
        self._call(self.client.connect())
        self._reader = asyncio.run_coroutine_threadsafe(self._read(), self.loop)
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
                   "--key-file", str(key_file(tmp)), env={"EARSHOT_STATE_DIR": str(tmp)})
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
        assert home.wait_for("run-pipeline").data["start_stage"] == "asr"
        start = home.wait_for("audio-start")
        assert start.data["rate"] == 16000 and start.data["width"] == 2
        [(info, pcm)] = board_sessions(tap)
        assert start.data["earshot"]["consent"] == ["cloud"] == info.consent
        assert start.data["earshot"]["session_id"] == info.session_id
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


def test_pause_satellite_mutes_the_board_and_nothing_unmutes_it(board, bridge):
    _, ports = bridge
    unmute(board)
    peer = Peer(ports["home"])
    try:
        peer.send(PauseSatellite().event())
        wait_for(lambda: board.pins()["mic_power"] == 0 and board.pins()["mute_led"] == 1)
        peer.send(RunSatellite().event())
        time.sleep(1.0)
        assert board.pins()["mic_power"] == 0 and board.pins()["mute_led"] == 1
    finally:
        peer.close()


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
        # Muted by Home Assistant, then it dies and comes back: the board stays muted.
        second.send(PauseSatellite().event())
        wait_for(lambda: board.pins()["mic_power"] == 0)
        second.kill()
        third = Peer(ports["home"])
        third.send(RunSatellite().event())
        time.sleep(1.0)
        assert board.pins()["mic_power"] == 0 and board.pins()["mute_led"] == 1
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
