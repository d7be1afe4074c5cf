"""The red-team findings of issue 10, each against a locked virtual board: refused, or detected.

The attacks are host_tools/security/attacks.py (`make security-report` runs them with counts);
these tests run each once. Before the lock existed every one of them was a VIOLATION.
"""

import pytest

from host_tools.security import attacks


@pytest.fixture(scope="module")
def locked(tmp_path_factory):
    return attacks.locked_image(tmp_path_factory.mktemp("locked") / "image")


def _run(attack, image, tmp_path, **kw):
    with attacks.Household(image, tmp_path) as h:
        outcome = attack(h, **kw)
    assert outcome.ok, outcome.line()
    return outcome


def test_mpremote_gets_nothing_from_a_locked_board(locked, tmp_path):
    # Finding 1: key read, mic driven past the interlock, state and main.py rewritten.
    _run(attacks.repl_through_mpremote, locked, tmp_path, timeout=8)


def test_raw_repl_and_ctrl_c_bytes_are_only_bytes_to_a_locked_board(locked, tmp_path):
    out = _run(attacks.repl_through_raw_bytes, locked, tmp_path, rounds=5)
    assert out.counts["became KeyboardInterrupt"] == 0


def test_ctrl_c_mid_session_neither_stops_it_nor_loses_its_log_entry(locked, tmp_path):
    _run(attacks.ctrl_c_mid_session, locked, tmp_path)


def test_ctrl_c_streamed_across_a_power_cycle_never_reaches_a_repl(locked, tmp_path):
    _run(attacks.ctrl_c_across_power_cycle, locked, tmp_path, seconds=1.5)


def test_a_host_cannot_put_a_locked_board_in_test_mode(locked, tmp_path):
    _run(attacks.test_mode_from_the_host, locked, tmp_path)


def test_push_to_talk_never_confirms_a_host_request(locked, tmp_path):
    _run(attacks.push_to_talk_confirms, locked, tmp_path, rounds=1)


def test_a_power_cut_mid_session_leaves_the_session_in_the_log_and_the_recording(locked,
                                                                                tmp_path):
    _run(attacks.power_cut_mid_session, locked, tmp_path)


def test_withdrawing_consent_ends_the_open_session(locked, tmp_path):
    _run(attacks.consent_withdrawn_mid_session, locked, tmp_path)


def test_bad_provisioning_input_never_stops_a_locked_board(locked, tmp_path):
    _run(attacks.bad_provisioning, locked, tmp_path)


def test_updating_a_locked_board_takes_both_buttons_at_boot_and_it_locks_again(locked,
                                                                               tmp_path):
    import subprocess
    import sys

    from host_tools.hil.fixtures import connect, wait_for

    def earshot(*args):
        return subprocess.run([sys.executable, "-m", "host_tools.cli", *args],
                              capture_output=True, text=True, timeout=300)

    with attacks.Household(locked, tmp_path, consent="private") as h:
        board = h.board
        h.client.close()
        r = earshot("deploy", "--port", board.port, "--board", "virtual", "--locked")
        assert r.returncode == 1 and "hold both buttons" in r.stderr  # says what to do
        board.power_cut()
        board.hold("mute+action")  # the household holds both buttons while plugging it in
        board.power_on()
        board.wait_booted()
        c = connect(board.port)
        board.release("mute+action")
        st = c.command("status")
        assert st["access"] == "unlocked" and st["muted"] is True
        # Shown on the status LED for as long as it lasts: white, then dark, every 500 ms.
        board.world.pin_history.clear()
        board.advance(1.2)
        leds = {v for _, name, v in board.world.pin_history if name == "status_led"}
        assert leds == {(255, 255, 255), (0, 0, 0)}
        c.close()
        r = earshot("status", "--port", board.port)  # says what the LED shows, not the preset's
        led = next(line for line in r.stdout.splitlines() if line.startswith("LED"))
        assert "white, slow blinking: unlocked at the board" in led and "green" not in led, led
        r = earshot("deploy", "--port", board.port, "--board", "virtual", "--locked")
        assert r.returncode == 0, r.stdout + r.stderr
        assert "unlocked at the board" in r.stdout and "locked: to update it again" in r.stdout
        c = connect(board.port)
        wait_for(lambda: c.command("status")["access"] == "locked")  # the deploy's reset
        data, _ = c.read_log()
        c.close()
        kinds = [line.split('"k": "')[1].split('"')[0] for line in data.decode().splitlines()
                 if '"k": "' in line]
        assert "unlock" in kinds and kinds.count("boot") >= 3


def test_fuzzed_protocol_input_never_moves_a_locked_board(locked, tmp_path):
    # A small dose of `make security-report`'s campaign (100,000 inputs there).
    from host_tools.security import fuzz

    with attacks.Household(locked, tmp_path, consent="private") as h:
        outcome = fuzz.run(h, 1500, seed=11)
    assert outcome.ok, outcome.line()
    assert outcome.counts["unanswered"] == 0 and outcome.counts["resets"] == 0


def test_a_locked_board_whose_firmware_fails_resets_muted_and_never_shows_a_repl(locked,
                                                                               tmp_path):
    import shutil
    import time

    from host_tools.records.translog import read_log
    from host_tools.sim import VirtualBoard

    flash = tmp_path / "flash"
    shutil.copytree(locked, flash)
    (flash / "earshot" / "app.mpy").write_bytes(b"not an mpy file")  # the app cannot load
    with VirtualBoard(flash_dir=flash) as board:
        tap = board.tap()
        deadline = time.monotonic() + 30
        while board.boots < 3 and time.monotonic() < deadline:
            time.sleep(0.1)
            assert board.pins()["mic_power"] == 0
        assert board.boots >= 3  # fail safe, log, reset: again and again, never the REPL
        board.power_cut()
    assert not any(m in tap for m in attacks.REPL_MARKERS)
    log = read_log(flash / "data" / "log.txt")
    assert log.ok and [e.fields["error"] for e in log.entries if e.kind == "crash"][:1] == \
        ["ValueError"]
