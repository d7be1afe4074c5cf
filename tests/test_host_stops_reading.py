"""A host that holds the port open and stops reading never stalls the board for long.

Upstream, a USB CDC write to a host that keeps DTR set but reads nothing waits up to
MICROPY_HW_USB_CDC_TX_TIMEOUT (500 ms) for room, then gives up; sys.stdout.buffer.write loops on
the short count and waits again, then reports the whole length written
(host_tools/sim/serial_line.py has the lines). Every frame would block the loop 0.5-1 s, twice
the I2S DMA buffer (256 ms), and the host would get pieces of frames. The board must notice
once, stop writing, end an open session cleanly (logged; a receiver sees it cut), and carry on
when the host talks again.
"""

from host_tools.hil.fixtures import (KEY, boot_board, confirm, connect, event_dicts, events,
                                    silence, speech_like, wait_for)
from host_tools.link.protocol import T_SESSION_CHUNK, T_SESSION_CLOSE, T_SESSION_HEADER
from host_tools.records import sessions
from host_tools.records.translog import verify_log

SESSION_TYPES = (T_SESSION_HEADER, T_SESSION_CHUNK, T_SESSION_CLOSE)


def test_a_host_that_stops_reading_mid_session_cuts_it_cleanly_once(firmware_image, tmp_path):
    with boot_board(firmware_image, tmp_path) as board:
        board.wait_booted()
        client = connect(board.port)
        client.command("provision", device_id="slow-host", key=KEY.hex())
        client.command("consent", preset="assistant")
        confirm(board)
        board.press("mute")
        wait_for(lambda: client.command("status")["muted"] is False)
        events(client, 0.3)
        t0 = board.time_s
        board.world.hold("action", 0.1, at=t0 + 0.5)  # push-to-talk
        board.world.host_stops_reading(3000, at=t0 + 2.0)  # 1.5 s into the session, for 3 s
        board.play(silence(0.5) + speech_like(6.0, seed=3) + silence(3.0))
        board.wait_audio_done()
        frames = events(client, 1.0)
        serial = board.world.serial
        # Noticed at the first write that ran into the USB timeout, then nothing more written
        # while the host was away: one stall, not one per frame.
        assert serial.stalled_writes == 1, serial.stalled_writes
        assert serial.longest_us <= 1_100_000
        records = [f.payload for f in frames if f.type in SESSION_TYPES]
        result = sessions.verify_stream(records, KEY)
        assert not result.ok and result.failure.reason == "truncated", result.failure  # cut
        # The host talks again: the board answers, listens, and says what happened.
        status = client.command("status")
        assert status["gate"] == "listening" and status["muted"] is False
        notes = [e for e in event_dicts(events(client, 0.5)) if e.get("ev") == "note"]
        assert any("stopped reading" in n["text"] for n in notes), notes
        data, _ = client.read_log()
        log = verify_log(data)
        ends = [e for e in log.entries if e.kind == "session"]
        assert [e.fields["end"] for e in ends] == ["host_slow"]
        client.close()
