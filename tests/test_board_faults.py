"""What only some real boards do, on their virtual twins: a microphone that cannot start
(XIAO Sense's PDM, BOX-3 without MCLK), a latched hardware mute switch (BOX-3), and a brown-out
(which upstream reports as a power-on)."""

import shutil
import subprocess
import sys

import pytest

from host_tools.board.build import build
from host_tools.errors import ProtocolError
from host_tools.board.files import load as load_board
from host_tools.hil.fixtures import KEY, boot_board, connect, event_dicts, events, silence, \
    speech_like, wait_for
from host_tools.link.protocol import T_SESSION_CHUNK, T_SESSION_CLOSE, T_SESSION_HEADER
from host_tools.records import sessions
from host_tools.records.translog import verify_log

SESSION_TYPES = (T_SESSION_HEADER, T_SESSION_CHUNK, T_SESSION_CLOSE)


@pytest.fixture(scope="module")
def image_for(tmp_path_factory):
    built = {}

    def get(board_id):
        if board_id not in built:
            built[board_id] = build(load_board(board_id),
                                    out=tmp_path_factory.mktemp("image") / board_id)
        return built[board_id]

    return get


def twin(image_for, tmp_path, board_id, **kw):
    flash = tmp_path / "flash"
    shutil.copytree(image_for(board_id), flash)
    return boot_board(image_for(board_id), tmp_path, board=board_id, **kw)


def log_entries(client):
    data, _ = client.read_log()
    result = verify_log(data)
    assert result.ok, result.error
    return result.entries


def fast_forward(board, seconds):
    """Let `seconds` of board time pass quickly: queued silence runs faster than real time."""
    board.play(silence(seconds))
    board.wait_audio_done()


def slide(board, engaged):
    """Move the latched switch and give the firmware a few frames to see it."""
    board.switch(engaged)
    board.advance(0.1)


# -- a microphone that cannot start ------------------------------------------------------------

def test_unmute_with_a_mic_that_cannot_start_stays_muted_says_why_and_keeps_serving(
        image_for, tmp_path):
    with twin(image_for, tmp_path, "virtual-xiao-sense") as board:
        board.wait_booted()
        client = connect(board.port)
        boots = board.boots
        board.world.pin_history.clear()
        for _ in range(3):
            board.press("mute")  # the household tries, and tries again
            fast_forward(board, 1.2)
        frames = events(client, 0.3)
        refusals = [e for e in event_dicts(frames) if e["ev"] == "mic"]
        assert len(refusals) == 3 and all(not e["ok"] and "PDM" in e["why"] for e in refusals)
        status = client.command("status")
        assert status["muted"] is True and "PDM" in status["mic_fault"]
        client.close()  # the household asks the way a user does
        r = subprocess.run([sys.executable, "-m", "host_tools.cli", "status", "--port",
                            board.port], capture_output=True, text=True, timeout=60)
        assert r.returncode == 0 and "mic       cannot start:" in r.stdout, r.stdout + r.stderr
        client = connect(board.port)
        assert board.pins()["mic_power"] == 0 and board.pins()["mute_led"] == 1
        # The mute LED winked (dark moments) but the microphone never had power.
        assert not any(name == "mic_power" and v for _, name, v in board.world.pin_history)
        winks = [v for _, name, v in board.world.pin_history if name == "mute_led" and not v]
        assert len(winks) >= 3
        # Logged once for the household, with the reason.
        faults = [e for e in log_entries(client) if e.kind == "mic_fault"]
        assert len(faults) == 1 and "PDM" in faults[0].fields["why"]
        fast_forward(board, 6)  # past the 5 s watchdog: not reset, it keeps serving
        assert board.boots == boots and board.watchdog_resets == 0
        assert client.command("consent", preset="private")["result"] in ("unchanged", "applied")
        client.close()


def test_a_restored_unmute_on_a_board_whose_mic_cannot_start_boots_muted(image_for, tmp_path):
    with twin(image_for, tmp_path, "virtual-xiao-sense") as board:
        board.wait_booted()
        (board.flash_dir / "data").mkdir(exist_ok=True)
        from tests.mpy import run_mpy

        run_mpy("from earshot import store\nstore.save(%r, {'muted': False})"
                % str(board.flash_dir / "data" / "state.json"))
        board.power_cut()
        board.power_on()  # a clean power-on would restore "unmuted"
        board.wait_booted()
        client = connect(board.port)
        status = client.command("status")
        assert status["muted"] is True and status["mic_fault"]
        assert board.pins()["mic_power"] == 0 and board.pins()["mute_led"] == 1
        client.close()


# -- the BOX-3's latched mute switch -----------------------------------------------------------

@pytest.fixture
def box(image_for, tmp_path):
    with twin(image_for, tmp_path, "virtual-box-3") as board:
        board.wait_booted()
        client = connect(board.port)
        client.command("provision", device_id="box", key=KEY.hex())
        board.press("action", seconds=1.7)  # long press: private -> assistant, at the board
        yield board, client
        client.close()


def test_the_mute_switch_is_state_and_hardware_mute_wins(box):
    board, client = box
    slide(board, True)
    slide(board, False)  # released: the household's unmute gesture on this board
    wait_for(lambda: client.command("status")["muted"] is False)
    assert board.pins()["mic_power"] == 1 and board.pins()["mute_led"] == 0
    slide(board, True)
    wait_for(lambda: client.command("status")["muted"] is True)
    status = client.command("status")
    assert status["hardware_muted"] is True
    assert board.pins()["mic_power"] == 0 and board.pins()["mute_led"] == 1
    # While the switch says mute, nothing unmutes: not the host, not a power-on restore.
    with pytest.raises(ProtocolError, match="only the mute button"):
        client.command("unmute")
    client.close()
    board.power_cut()
    board.power_on()
    board.wait_booted()
    c = connect(board.port)
    assert c.command("status")["muted"] is True and board.pins()["mic_power"] == 0
    slide(board, False)
    wait_for(lambda: c.command("status")["muted"] is False)
    c.command("mute")  # a host may still mute; the switch stays released
    assert c.command("status")["muted"] is True and c.command("status")["hardware_muted"] is False
    c.close()


def test_after_the_switch_is_released_the_codec_is_configured_again_and_hears(box):
    board, client = box
    slide(board, True)
    slide(board, False)
    wait_for(lambda: client.command("status")["muted"] is False)
    slide(board, True)  # cuts the codec's power: it forgets its configuration
    wait_for(lambda: client.command("status")["muted"] is True)
    slide(board, False)
    wait_for(lambda: client.command("status")["muted"] is False)
    events(client, 0.2)
    board.press("action")  # push-to-talk: audio must flow from the re-configured codec
    board.play(speech_like(1.5, seed=2) + silence(1.5))
    board.wait_audio_done()
    records = [f.payload for f in events(client, 1.0) if f.type in SESSION_TYPES]
    result = sessions.verify_stream(records, KEY)
    assert result.ok, result.failure
    chunks = [sessions.parse_record(r) for r in records if r[0] == sessions.CHUNK]
    assert sum(any(c.pcm) for c in chunks) >= 10  # a second and more of non-silent audio


def test_engaging_the_switch_ends_a_session_as_a_mute(box):
    board, client = box
    slide(board, True)
    slide(board, False)
    wait_for(lambda: client.command("status")["muted"] is False)
    board.press("action")
    board.play(speech_like(1.0))
    board.wait_audio_done()
    slide(board, True)
    board.play(speech_like(1.0))
    board.wait_audio_done()
    ends = [e for e in event_dicts(events(client, 0.5)) if e["ev"] == "session"]
    assert ends and ends[-1]["end"] == "mute"


# -- brown-out -------------------------------------------------------------------------------

def test_a_brownout_fails_closed_and_the_log_says_why(image_for, tmp_path):
    with twin(image_for, tmp_path, "virtual") as board:
        board.wait_booted()
        client = connect(board.port)
        board.press("mute")
        wait_for(lambda: client.command("status")["muted"] is False)
        client.close()
        board.power_cut()
        board.power_on()  # a clean power-on restores the household's "unmuted"
        board.wait_booted()
        client = connect(board.port)
        assert client.command("status")["muted"] is False
        client.close()
        # Upstream's machine.reset_cause() says PWRON_RESET for both; the chip's own reason is
        # 3 (the brown-out interrupt's software reset, IDF 5.x default) or 15 (the detector's
        # hardware reset). Before, only 15 was told apart, and a reason-3 brown-out restored
        # "unmuted" as a clean power-on would.
        for hardware_reset in (False, True):
            board.brownout(hardware_reset=hardware_reset)
            board.wait_booted()
            client = connect(board.port)
            status = client.command("status")
            assert status["muted"] is True
            assert board.pins()["mic_power"] == 0 and board.pins()["mute_led"] == 1
            boots = [e for e in log_entries(client) if e.kind == "boot"]
            assert boots[-1].fields["cause"] == "brown-out"  # the log says why it stayed muted
            board.press("mute")
            wait_for(lambda: client.command("status")["muted"] is False)
            client.close()
