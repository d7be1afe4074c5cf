"""The virtual board's physics on their own: board clock, I2S DMA, serial and flash cost,
watchdog in board time, clock wrap, latched switch. (The firmware-facing tests use them.)"""


import pytest

from host_tools.errors import EarshotError
from host_tools.sim import wire
from host_tools.sim.flash_cost import FlashCost
from host_tools.sim.serial_line import SerialLine
from host_tools.sim.world import World


def world(**kw):
    w = World({"mic_power": 0, "mute_led": 1}, serial=SerialLine(), flash=FlashCost(), **kw)
    w.set_pin("mic_power", 1)
    return w


def ramp(n):
    """n samples whose values are their own index (mod 2**15): to see what was dropped."""
    return b"".join((i % 32768).to_bytes(2, "little") for i in range(n))


def test_frames_follow_the_audio_clock_and_report_board_ticks():
    w = world()
    w.play(ramp(640))
    mask, lost, backlog, ticks, pcm = w.next_frame()
    assert (lost, backlog, ticks) == (0, 0, 20) and pcm == ramp(320)
    assert w.next_frame()[3] == 40


def test_a_late_loop_loses_the_oldest_audio_in_whole_dma_buffers():
    w = world(dma_samples=1280)  # 80 ms, as machine.I2S allocates for ibuf 10240
    w.play(ramp(16000))
    w.next_frame()
    w.serial_write(3251)  # at the boot line rate this blocks ~0.3 s: audio piles up
    mask, lost, backlog, ticks, pcm = w.next_frame()
    assert lost > 0 and lost % 256 == 0 and backlog <= 1280 - 320
    first = int.from_bytes(pcm[:2], "little")
    assert first == 320 + lost  # the frame after the loss starts where the loss ended
    assert w.lost_samples == lost


def test_an_unpowered_microphone_loses_nothing_because_it_hears_nothing():
    w = world()
    w.set_pin("mic_power", 0)
    w.play(ramp(16000))
    w.next_frame()
    w.serial_write(10_000)
    assert not any(w.next_frame()[4]) and w.lost_samples == 0


def test_the_watchdog_bites_at_its_timeout_in_board_time_and_stays_bitten():
    w = world()
    w.watchdog(timeout_ms=5000)
    w.play(bytes(2 * 16000))
    w.next_frame()
    w.serial_write(40_000)  # ~5 s at the boot line rate, no feed
    assert w.check_watchdog()
    w.watchdog(feed=True)  # a feed after the bite does not undo it
    assert w.check_watchdog()


def test_the_watchdog_is_fed_by_a_loop_that_feeds_it():
    w = world()
    w.watchdog(timeout_ms=5000)
    w.play(bytes(2 * 16000 * 8))
    for _ in range(400):  # 8 s of frames, fed each one
        w.next_frame()
        w.watchdog(feed=True)
    assert not w.check_watchdog()


def test_ticks_wrap_at_two_to_the_thirty_ms():
    start = wire.TICKS_PERIOD - 30
    w = world(clock_start_ms=start)
    w.play(bytes(2 * 320 * 3))
    ticks = [w.next_frame()[3] for _ in range(3)]
    assert ticks == [wire.TICKS_PERIOD - 10, 10, 30]


def test_serial_cost_follows_the_driver_waits():
    boot = SerialLine()  # 115200 baud, 10 ms ticks, then USB CDC
    assert 90_000 < boot.write(1000, 0) < 150_000  # ~8 ticks on UART0, ~3 on USB
    fast = SerialLine()
    fast.configure(baud=921600, wake_ms=1)
    assert fast.write(1000, 0) < 20_000
    assert SerialLine(cost_free=True).write(10**6, 0) == 0


def test_flash_cost_charges_an_erase_per_block_and_copies_an_appended_tail():
    f = FlashCost()
    new = f.write(150)  # state.json: one block
    assert 45_000 <= new < 50_000
    append = f.write(300, tail=3900)  # spills into a second block
    assert append >= 2 * 45_000
    assert f.write(65_000) > 16 * 45_000  # a 65 KB rewrite: 16 erases, ~0.9 s


def test_the_latched_switch_silences_the_mic_until_the_codec_is_started_again():
    w = world(mute_switch=True)
    w.play(ramp(320 * 4))
    assert w.next_frame()[0] == 0 and any(w.next_frame()[4])
    w.set_switch(True)
    mask, *_, pcm = w.next_frame()
    assert mask & wire.BUTTON_MUTE and not any(pcm)  # whatever the firmware believes
    w.set_switch(False)
    assert not any(w.next_frame()[4])  # released, but the codec lost its configuration
    w.set_pin("mic_power", 0)
    w.set_pin("mic_power", 1)  # the firmware starts the microphone again
    w.play(ramp(320))
    assert any(w.next_frame()[4])
    with pytest.raises(EarshotError, match="no mute switch"):
        world().set_switch(True)


def test_idle_board_time_passes_at_real_time_pace():
    import time

    w = world()
    t0 = time.monotonic()
    for _ in range(5):
        w.next_frame()
    assert time.monotonic() - t0 >= 0.08  # 5 silent frames take ~0.1 s of wall time


def test_live_audio_is_heard_no_faster_than_spoken_and_unchanged():
    # A person saying something takes as long as saying it: a host that shows a session while
    # it streams (the dashboard) must be able to see it. A recording queued without `live` is
    # heard as fast as the firmware reads (the tests' fast path); a live one, sample for sample
    # the same, at real-time pace at the fastest. Only a lower bound on the host's clock: a
    # busy machine makes it slower, never faster.
    import time

    fast, live = world(), world()
    fast.play(ramp(8000))
    t0 = time.monotonic()
    heard_fast = b"".join(fast.next_frame()[4] for _ in range(25))
    fast_s = time.monotonic() - t0
    live.play(ramp(8000), live=True)
    t0 = time.monotonic()
    heard_live = b"".join(live.next_frame()[4] for _ in range(25))
    live_s = time.monotonic() - t0
    assert heard_live == heard_fast == ramp(8000)
    assert live_s >= 0.48  # 0.5 s of speech (25 frames of 20 ms; the first is due at 20 ms)
    assert fast_s < live_s
    # A second utterance, played after a pause, is paced on its own clock, not the first's.
    time.sleep(0.3)
    live.play(ramp(3200), live=True)
    t0 = time.monotonic()
    for _ in range(10):
        live.next_frame()
    assert time.monotonic() - t0 >= 0.18


def test_live_audio_a_write_used_up_still_counts_toward_the_pace():
    # A serial write that blocks the firmware lets board time (and the room's live speech)
    # pass outside any frame read: what it used up is part of the same utterance, so the
    # reads after it wait for the rest of it, not for a new one from their start.
    import time

    w = world()
    w.play(ramp(16000), live=True)  # 1 s of speech
    t0 = time.monotonic()
    w.serial_write(6000)  # ~0.47 s of board time at the boot line rate
    while not w.audio_read():
        w.next_frame()
    assert time.monotonic() - t0 >= 0.95


def test_unplay_takes_back_only_the_unheard_rest_of_its_own_span():
    # advance() queues its silence like a recording; a firmware that stopped reading must not
    # find it queued in front of the next sound a test plays (VirtualBoard.advance), and what
    # was queued before or after it stays.
    w = world()
    speech = ramp(800)
    w.play(speech)
    quiet = w.queue(bytes(2 * 800))  # the silence advance() queued
    later = ramp(300)
    w.play(later)  # another sound, queued meanwhile
    assert w.next_frame()[4] == speech[:640]  # the firmware heard one frame, then stopped
    w.unplay(quiet)
    assert w.queued_seconds() == (800 - 320 + 300) / 16000
    assert w.next_frame()[4] == speech[640:1280]
    assert w.next_frame()[4] == speech[1280:] + later[:320]  # no silence between them


def test_unplay_takes_back_a_partly_heard_span_and_nothing_else():
    w = world()
    quiet = w.queue(bytes(2 * 400))
    after = w.queue(ramp(400))
    w.next_frame()  # 320 of the 400 silent samples heard
    w.unplay(quiet)
    assert w.queued_seconds() == 400 / 16000
    assert w.next_frame()[4] == ramp(320)
    w.unplay(after)  # what is left of it
    assert w.queued_seconds() == 0 and w.audio_read()
