"""A flash write during a session never leaves a silent splice in it.

Upstream builds do not make the I2S interrupt IRAM-safe (CONFIG_I2S_ISR_IRAM_SAFE is off), so
while a flash sector erases (~45 ms) the DMA's end-of-buffer events are lost and the audio of
that time is skipped without any overflow the driver could report. The virtual board does the
same (host_tools/sim/world.py, _produce). A pilot tone (host_tools/sim/pilot.py) numbers every
sample, so a splice shows in what the receiver gets; a gap the board marked (a skipped chunk
index) is allowed, a silent one never.
"""

from host_tools.hil.fixtures import (KEY, boot_board, confirm, connect, event_dicts, events,
                                    silence, wait_for)
from host_tools.link.protocol import T_SESSION_CHUNK, T_SESSION_CLOSE, T_SESSION_HEADER
from host_tools.records import sessions
from host_tools.resources import audio
from host_tools.sim.pilot import check, pilot
from host_tools.sim.world import read_pcm

SESSION_TYPES = (T_SESSION_HEADER, T_SESSION_CHUNK, T_SESSION_CLOSE)


def unmuted(board, preset):
    board.wait_booted()
    client = connect(board.port)
    client.command("provision", device_id="pilot", key=KEY.hex())
    client.command("consent", preset=preset)
    confirm(board)
    board.press("mute")
    wait_for(lambda: client.command("status")["muted"] is False)
    return client


def one_session(client):
    frames, ends = [], []
    for _ in range(40):  # read in wall time; the machine may be loaded
        frames += events(client, 0.5)
        ends = [e for e in event_dicts(frames) if e.get("ev") == "session"]
        if ends:
            break
    assert len(ends) == 1, ends
    return [f.payload for f in frames if f.type in SESSION_TYPES], ends[0]


def test_the_pre_roll_and_the_live_audio_are_never_silently_spliced(firmware_image, tmp_path):
    # With `preroll` consent the session starts with the ring's audio, then the flash writes of
    # the session's opening (counter, log entry) mask the I2S interrupt: the live audio that
    # follows is not contiguous with the pre-roll.
    with boot_board(firmware_image, tmp_path) as board:
        client = unmuted(board, "contribute")
        t0 = board.time_s + 0.5
        board.world.hold("action", 0.1, at=t0 + 1.5)  # push-to-talk 1.5 s into the pilot
        board.play(silence(0.5) + pilot(3.0) + silence(2.0))
        board.wait_audio_done()
        records, end = one_session(client)
        assert board.world.spliced_samples > 0  # the board really lost audio to the flash
        result = check(records)
        assert result.sessions == 1 and result.pilot_samples > 16000
        assert result.splices == 0, result
        assert result.gaps >= 1 and end["gaps"] == result.gaps  # marked, and said so
        verified = sessions.verify_stream(records, KEY)  # a declared gap verifies
        assert verified.ok and verified.sessions[0].gaps == result.gaps, verified.failure
        client.close()


def test_a_consent_confirmed_mid_session_is_no_silent_splice(firmware_image, tmp_path):
    # Widening consent is confirmed at the board while a session streams: the consent entry and
    # the state file are written mid-session, and the session goes on.
    with boot_board(firmware_image, tmp_path) as board:
        client = unmuted(board, "assistant")
        clip = read_pcm(audio("alexa_en-us.wav"))
        client.send("consent", preset="history")  # waits for the household
        t0 = board.time_s
        start = t0 + 0.5 + len(clip) / 32000
        board.world.hold("mute+action", 0.7, at=start + 1.0)  # confirmed mid-pilot
        board.play(silence(0.5) + clip + pilot(4.0) + silence(2.0))
        board.wait_audio_done()
        records, end = one_session(client)
        assert client.command("status")["consent"]["preset"] == "history"
        assert board.world.spliced_samples > 0
        result = check(records)
        assert result.sessions == 1 and result.pilot_samples > 32000
        assert result.splices == 0, result
        assert end["gaps"] == result.gaps >= 1
        verified = sessions.verify_stream(records, KEY)
        assert verified.ok and verified.sessions[0].gaps == result.gaps, verified.failure
        client.close()


def test_a_log_compaction_due_mid_session_waits_for_its_end(firmware_image, tmp_path):
    # The session's own `open` entry takes the log past its 256 entries: the compaction (a
    # rewrite of ~60 KB, many erases) would chop the session into marked gaps; it waits.
    import shutil

    from tests.test_log_compaction import FULL, fill_log

    shutil.copytree(firmware_image, tmp_path / "flash")
    # boot, provision, the consent request, consent, unmute: 256; open: 257
    fill_log(tmp_path / "flash", FULL - 5)
    with boot_board(firmware_image, tmp_path) as board:
        client = unmuted(board, "assistant")
        assert client.command("status")["log"]["entries"] == FULL
        t0 = board.time_s + 0.5
        board.world.hold("action", 0.1, at=t0 + 0.5)
        board.play(silence(0.5) + pilot(4.0) + silence(2.0))
        board.wait_audio_done()
        records, end = one_session(client)
        result = check(records)
        assert result.sessions == 1 and result.pilot_samples > 3 * 16000
        assert result.splices == 0 and result.gaps == 0 and end["gaps"] == 0, (
            result, end, client.command("status")["audio_lost_ms"], board.world.spliced_samples)
        board.advance(3.0)  # then it runs, between sessions
        wait_for(lambda: client.command("status")["log"]["entries"] < FULL)
        client.close()
