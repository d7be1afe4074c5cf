"""What `earshot bridge` lets through to Home Assistant as a real wake, beyond consent: never
a session it (or `earshot record`, `verify`) received before, even across a restart of the
bridge, never one out of the board's chain, and never a test-mode session (the audio may be the
host's own) unless a test rig asks for them, marked.

Each test runs `earshot bridge` as a user does against a virtual board, with a Wyoming peer
built from the `wyoming` library in the part of Home Assistant."""

import queue
import time

import pytest

from host_tools.hil.fixtures import DEVICE_ID, KEY, wait_for
from host_tools.link.protocol import (T_SESSION_CHUNK, T_SESSION_CLOSE, T_SESSION_HEADER,
                                      FrameParser, encode_frame)
from host_tools.records import sessions
from tests.cable import Cable
from tests.household import Earshot, key_file, provisioned_board, unmute, wait_event
from tests.test_bridge_wyoming import (BLUE, Peer, consent_by_the_button, free_port,
                                       say_the_wake_word)

SESSION_TYPES = (T_SESSION_HEADER, T_SESSION_CHUNK, T_SESSION_CLOSE)


class RecordingCable(Cable):
    """Passes everything, keeps a copy of the session frames, and puts frames of the test's
    own on the line (`inject`)."""

    def __init__(self, port):
        super().__init__(port)
        self.sessions = []  # (type, payload) of every session frame the board sent
        self.extra = queue.Queue()

    def rewrite(self, frame):
        if frame.type in SESSION_TYPES:
            self.sessions.append((frame.type, frame.payload))
        return super().rewrite(frame)

    def pending(self):
        out = []
        while not self.extra.empty():
            out.append(self.extra.get())
        return out

    def inject(self, frames):
        for kind, payload in frames:
            self.extra.put(encode_frame(kind, 0, payload))


def _frames(records):
    kinds = {sessions.HEADER: T_SESSION_HEADER, sessions.CHUNK: T_SESSION_CHUNK,
             sessions.CLOSE: T_SESSION_CLOSE}
    return [(kinds[r[0]], r) for r in records]


@pytest.fixture
def cabled(firmware_image, tmp_path):
    board = provisioned_board(firmware_image, tmp_path / "b")
    cable = RecordingCable(board.port)
    cable.start()
    yield board, cable
    cable.close()
    board.close()


def bridge(url, tmp_path, *extra):
    port = free_port()
    proc = Earshot("bridge", "--port", url, "--wyoming", "tcp://127.0.0.1:%d" % port,
                   "--key-file", str(key_file(tmp_path)), *extra,
                   env={"EARSHOT_HOME": str(tmp_path / "home"),
                        "EARSHOT_HISTORY": str(tmp_path / "history.json")})
    proc.wait_line(r"wyoming: pipeline")
    return proc, port


def test_a_session_replayed_after_a_bridge_restart_or_out_of_the_chain_never_reaches_home_assistant(
        cabled, tmp_path):
    board, cable = cabled
    proc, port = bridge(cable.url, tmp_path)
    try:
        consent_by_the_button(board, BLUE)
        unmute(board)
        peer = Peer(port)
        say_the_wake_word(board)
        peer.wait_for("audio-stop", timeout=30)  # the session went to Home Assistant, once
        peer.close()
    finally:
        assert proc.stop() == 0, proc.output
    sent = list(cable.sessions)
    [info] = sessions.verify_stream([p for _, p in sent], KEY).sessions

    proc, port = bridge(cable.url, tmp_path)  # restarted: what it received before is remembered
    try:
        peer = Peer(port)
        cable.inject(sent)  # the same session, put on the line again
        proc.wait_line(r"REFUSED session %s not passed on: header: replayed" % info.session_id)
        # One the board never sent in its chain (made with its key, naming a previous session
        # nobody received): not forwarded either.
        other = sessions.sign_session(KEY, DEVICE_ID, b"\x07" * 8, info.counter + 5,
                                      [bytes(3200)], wake_word="alexa", prev=b"\x01" * 32)
        cable.inject(_frames(other))
        proc.wait_line(r"REFUSED session 0707070707070707 not passed on: header: dropped")
        time.sleep(0.5)
        assert peer.types() == ["info"]  # nothing at all reached Home Assistant
        peer.close()
    finally:
        assert proc.stop() == 0, proc.output
    assert "Traceback" not in proc.output


def test_a_test_mode_session_is_refused_unless_a_test_rig_asks_for_it_marked(tmp_path):
    # Issue 10: audio a host fed into a board in test mode never leaves marked as a real wake.
    # Before, the bridge sent such a session to Home Assistant as `run-pipeline` and audio,
    # unmarked.
    from host_tools.board.build import build
    from host_tools.board.files import load as load_board
    from host_tools.hil.fixtures import boot_board, connect

    image = build(load_board("virtual"), test_mode=True, out=tmp_path / "image")
    board = boot_board(image, tmp_path / "b")
    board.hold("action")  # held while it starts: test mode is armed
    try:
        board.start()
        board.wait_booted()
        c = connect(board.port)
        board.release("action")
        assert c.command("status")["test_mode"] is True
        c.command("provision", device_id=DEVICE_ID, key=KEY.hex())
        c.close()
        board.press("action", seconds=1.7)  # the household: private -> assistant
        wait_for(lambda: board.pins()["status_led"] == BLUE)  # it alternates with white
        unmute(board)
        # The household's page says so, and shows the light as the board lights it.
        page = Earshot("dashboard", "--port", board.port, "--bind", "127.0.0.1:0",
                       env={"EARSHOT_STATE_DIR": str(tmp_path / "state")})
        try:
            url = page.wait_line(r"dashboard: (http://\S+)").group(1)
            state = wait_event(url, lambda k, d: k == "state" and d["light"], "the state")
            assert state["test_mode"] is True and "TEST" not in state["test_mode_text"]
            assert "play audio into the board" in state["test_mode_text"]
            assert (state["light"]["colour"], state["light"]["pattern"]) == (
                "blue", "alternating with white")
        finally:
            assert page.stop() == 0, page.output
        for forward in (False, True):
            extra = ("--forward-test-sessions",) if forward else ()
            proc, port = bridge(board.port, tmp_path, *extra)
            try:
                peer = Peer(port)
                tap = board.tap()
                board.press("action")  # push-to-talk: a session, marked test by the board
                if not forward:
                    proc.wait_line(r"REFUSED session \w+ not sent: it was sent in test mode")
                    # it ends by itself (nobody speaks): the next press opens a new one
                    wait_for(lambda: any(f.type == T_SESSION_CLOSE
                                         for f in FrameParser().feed(bytes(tap))), timeout=30)
                    assert peer.types() == ["info"]
                else:
                    start = peer.wait_for("audio-start", timeout=30)
                    run = peer.wait_for("run-pipeline")
                    assert start.data["earshot"]["test"] is True
                    detection = peer.wait_for("detection")
                    for e in (run, detection):  # every event of the session says so
                        assert e.data["earshot"]["test"] is True
                        assert e.data["earshot"]["session_id"] == \
                            start.data["earshot"]["session_id"]
                    peer.wait_for("audio-stop", timeout=30)
                peer.close()
            finally:
                assert proc.stop() == 0, proc.output
    finally:
        board.close()

