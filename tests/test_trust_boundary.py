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
