"""Across the ticks_ms() wrap: sessions close, long presses count, confirmation windows hold.

On the ESP32-S3 ticks_ms() wraps at 2**30 ms (12.4 days of uptime; py/mpconfig.h
MICROPY_PY_TIME_TICKS_PERIOD). The virtual board's clock wraps there too and can start near it
(VirtualBoard(clock_start_ms=...), `earshot sim --clock-start`).
"""

import pytest

from host_tools.errors import ProtocolError
from host_tools.hil.fixtures import (KEY, boot_board, confirm, connect, event_dicts, events,
                                    silence, speech_like, wait_for)
from host_tools.legend import CONFIRM_S
from host_tools.link.protocol import T_SESSION_CHUNK, T_SESSION_CLOSE, T_SESSION_HEADER
from host_tools.records import sessions
from host_tools.sim.wire import TICKS_PERIOD

WRAP_S = TICKS_PERIOD / 1000
START_MS = TICKS_PERIOD - 40_000  # 40 s of board time before the wrap


@pytest.fixture
def near_wrap(firmware_image, tmp_path):
    with boot_board(firmware_image, tmp_path, clock_start_ms=START_MS) as board:
        board.wait_booted()
        client = connect(board.port)
        client.command("provision", device_id="wrap", key=KEY.hex())
        yield board, client
        client.close()


def fast_forward(board, until_s):
    """Let board time reach until_s (seconds) quickly: queued silence runs faster than real
    time."""
    left = until_s - board.time_s
    assert left > 0, "already %.2f s past the target" % -left
    board.play(silence(left))
    board.wait_audio_done()


def ticks(board):
    return (round(board.time_s * 1000)) % TICKS_PERIOD


def test_a_session_opened_just_before_the_wrap_closes_at_end_of_speech(near_wrap):
    board, client = near_wrap
    client.command("consent", preset="assistant")
    confirm(board)
    board.press("mute")
    wait_for(lambda: client.command("status")["muted"] is False)
    fast_forward(board, WRAP_S - 2.0)
    board.press("action")  # push-to-talk 2 s before the wrap
    board.play(speech_like(4.0, seed=5) + silence(2.0))
    board.wait_audio_done()
    assert ticks(board) < 10_000  # the board's clock has wrapped
    frames = events(client, 1.0)
    records = [f.payload for f in frames if f.type in (T_SESSION_HEADER, T_SESSION_CHUNK,
                                                        T_SESSION_CLOSE)]
    result = sessions.verify_stream(records, KEY)
    assert result.ok, result.failure
    info = result.sessions[0]
    assert info.reason == "speech_end" and 4000 <= info.duration_ms <= 5500
    assert info.start_ms > TICKS_PERIOD - 3000  # stamped before the wrap, as the board saw it


def test_a_long_press_across_the_wrap_is_a_long_press(near_wrap):
    board, client = near_wrap
    assert client.command("status")["consent"]["preset"] == "private"
    fast_forward(board, WRAP_S - 0.8)
    board.press("action", seconds=1.7)  # held across the wrap: next preset, no push-to-talk
    assert ticks(board) < 5_000
    assert client.command("status")["consent"]["preset"] == "assistant"
    assert client.command("status")["gate"] == "listening"


def test_a_consent_confirmation_window_spans_the_wrap_and_still_lapses(near_wrap):
    board, client = near_wrap
    fast_forward(board, WRAP_S - 5.0)
    seq = client.send("consent", preset="history")
    # CONFIRM_S - 1 later, across the wrap: still waiting, 1 s left
    fast_forward(board, WRAP_S + CONFIRM_S - 6.0)
    pending = client.command("status")["consent"]
    assert pending["pending"] == "history" and pending["preset"] == "private"
    fast_forward(board, WRAP_S + CONFIRM_S - 4.0)  # CONFIRM_S + 1: it lapses, and says so
    outcomes = []
    for _ in range(10):  # the event is read in wall time: a loaded host may take a while
        outcomes += [e for e in event_dicts(events(client, 0.5)) if e.get("ev") == "confirm"
                     and e.get("outcome")]
        if outcomes:
            break
    assert [(e["re"], e["outcome"]) for e in outcomes] == [(seq, "expired")]
    confirm(board)  # too late: nothing is waiting any more
    assert client.command("status")["consent"]["preset"] == "private"


def test_a_key_replacement_window_spans_the_wrap(near_wrap):
    board, client = near_wrap
    fast_forward(board, WRAP_S - 2.0)
    seq = client.send("provision", device_id="wrap-2", key=bytes(range(1, 33)).hex())
    fast_forward(board, WRAP_S + CONFIRM_S + 1.0)  # lapsed across the wrap: the old key stays
    errs = [e for e in event_dicts(events(client, 0.5)) if e.get("ev") == "error"
            and e.get("re") == seq]
    assert errs and "expired" in errs[0]["error"]
    assert client.command("status")["device_id"] == "wrap"
    fast_forward(board, WRAP_S + CONFIRM_S + 2.0)
    seq = client.send("provision", device_id="wrap-3", key=bytes(range(2, 34)).hex())
    fast_forward(board, WRAP_S + CONFIRM_S + 10.0)
    confirm(board)  # 8 s later: confirmed in time
    wait_for(lambda: client.command("status")["device_id"] == "wrap-3")
    with pytest.raises(ProtocolError):
        client.command("unmute")  # the board carries on normally after all that


def test_ticks_start_again_when_the_chip_starts(firmware_image, tmp_path):
    # ticks_ms() is esp_timer_get_time() / 1000 upstream (ports/esp32/mphalport.c): time since
    # the chip started. Before, the virtual board's ran on across power cuts and resets, so
    # `earshot status` showed 82 s of uptime right after a power-on.
    with boot_board(firmware_image, tmp_path) as board:
        board.wait_booted()
        client = connect(board.port)
        fast_forward(board, 30.0)
        before = client.command("status")["uptime_ms"]
        assert before >= 30_000
        for restart in (board.hard_reset, lambda: (board.power_cut(), board.power_on())):
            client.close()
            restart()
            board.wait_booted()
            client = connect(board.port)
            up = client.command("status")["uptime_ms"]
            assert up < 10_000, up  # the boot itself, not the 30 s before it
            assert board.time_s > 30.0  # while board time (the world's clock) ran on
        client.close()


def test_a_boot_gesture_held_across_the_wrap_arms_test_mode(tmp_path):
    # ticks_ms() runs on through a soft reset (esp_timer counts from the chip's start), so a
    # boot gesture can straddle the wrap. earshot/access.py measured the hold as a raw
    # subtraction: after the wrap it was hugely negative, never reached HOLD_MS, and the gesture
    # was lost (test mode not armed) however long the button was held.
    from host_tools.board.build import build
    from host_tools.board.files import load as load_board

    image = build(load_board("virtual"), test_mode=True, out=tmp_path / "image")
    with boot_board(image, tmp_path, clock_start_ms=TICKS_PERIOD - 1000) as board:
        board.hold("action")  # held from power-on, 1 s before ticks_ms() wraps
        board.wait_booted()
        assert board.world.wait_board_time(board.time_s + 3.5, wall_timeout=60)  # across it
        board.release("action")
        client = connect(board.port)
        status = client.command("status")
        client.close()
    assert status["uptime_ms"] < 10_000  # the board's clock wrapped during the gesture
    assert status["test_mode"] is True
