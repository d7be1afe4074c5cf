"""What receivers remember between runs (host_tools/records/history.py), through the commands a
user runs: a session replayed in a second capture, a whole session missing, a log rolled back.
The tampering classes in bulk are host_tools/security/tamper.py (`make security-report`)."""

import json
import shutil
import subprocess
import sys

from host_tools.records.sessions import write_capture
from host_tools.security import tamper

KEY = tamper.KEY


def earshot(*args):
    import os

    env = dict(os.environ, EARSHOT_PORT="")
    return subprocess.run([sys.executable, "-m", "host_tools.cli", *args], capture_output=True,
                          text=True, timeout=120, env=env)


def _captures(tmp_path):
    import random

    rng = random.Random(7)
    groups, tag = tamper._sessions(rng, 4)
    later, _ = tamper._sessions(rng, 2, first_counter=5, prev=tag)
    key = tmp_path / "k.hex"
    key.write_text(KEY.hex())
    return groups, later, key


def _one_capture(tmp_path):
    """a.cap holding four chained sessions, and the key file they verify with."""
    groups, _, key = _captures(tmp_path)
    cap = tmp_path / "a.cap"
    write_capture(cap, tamper._flat(groups))
    return cap, key


def test_a_session_seen_in_one_capture_is_a_replay_in_the_next(tmp_path):
    groups, later, key = _captures(tmp_path)
    a, b = tmp_path / "a.cap", tmp_path / "b.cap"
    write_capture(a, tamper._flat(groups))
    write_capture(b, tamper._flat(later[:1] + [groups[2]] + later[1:]))
    assert earshot("verify", str(a), "--key-file", str(key)).returncode == 0
    assert earshot("verify", str(a), "--key-file", str(key)).returncode == 0  # same capture
    r = earshot("verify", str(b), "--key-file", str(key))
    assert r.returncode == 1 and "header: replayed (counter 3 was received before" in r.stderr


def test_a_whole_session_missing_is_dropped_in_the_capture_or_at_the_next(tmp_path):
    groups, later, key = _captures(tmp_path)
    middle = tmp_path / "middle.cap"
    write_capture(middle, tamper._flat(groups[:1] + groups[2:]))
    r = earshot("verify", str(middle), "--key-file", str(key))
    assert r.returncode == 1 and "header: dropped (a session before counter 3" in r.stderr
    end, nxt = tmp_path / "end.cap", tmp_path / "next.cap"
    write_capture(end, tamper._flat(groups[:3]))  # the fourth session never arrived
    write_capture(nxt, tamper._flat(later))
    history = tmp_path / "fresh.json"
    assert earshot("verify", str(end), "--key-file", str(key),
                   "--history", str(history)).returncode == 0
    r = earshot("verify", str(nxt), "--key-file", str(key), "--history", str(history))
    assert r.returncode == 1 and "dropped (a session before counter 5" in r.stderr


def test_after_a_missing_session_is_reported_the_next_one_verifies(tmp_path):
    # A session the receiver never saw (it went to Home Assistant through the bridge, or no
    # recorder ran) is reported once, at the session that reveals the gap; the chain then
    # continues from that session, so every later session does not fail forever.
    groups, later, key = _captures(tmp_path)
    history = tmp_path / "h.json"
    caps = []
    for n, group in enumerate(groups[:1] + groups[2:]):  # the second session never arrived
        caps.append(tmp_path / ("s%d.cap" % n))
        write_capture(caps[-1], tamper._flat([group]))
    args = ("--key-file", str(key), "--history", str(history))
    assert earshot("verify", str(caps[0]), *args).returncode == 0
    r = earshot("verify", str(caps[1]), *args)
    assert r.returncode == 1 and "dropped (a session before counter 3" in r.stderr
    r = earshot("verify", str(caps[2]), *args)
    assert r.returncode == 0, r.stderr
    r = earshot("verify", str(caps[1]), *args)  # the gap is still there when checked again
    assert r.returncode == 1 and "dropped (a session before counter 3" in r.stderr
    late = tmp_path / "late.cap"  # the missing session turns up (another recorder kept it)
    write_capture(late, tamper._flat(groups[1:2]))
    r = earshot("verify", str(late), *args)
    assert r.returncode == 0, r.stderr
    assert earshot("verify", str(caps[1]), *args).returncode == 0  # no gap any more
    r = earshot("verify", str(late), "--key-file", str(key), "--history",
                str(tmp_path / "other.json"))
    assert r.returncode == 0  # (alone it verifies anywhere)
    replay = tmp_path / "replay.cap"  # but the same session again, in another capture
    write_capture(replay, tamper._flat(groups[1:2] + groups[3:]))
    r = earshot("verify", str(replay), *args)
    assert r.returncode == 1 and "header: replayed (counter 2 was received before" in r.stderr


def test_saving_the_history_leaves_a_file_named_like_its_temporary_alone(tmp_path):
    # The history is written atomically through a temporary file; one that happens to be named
    # <history>.tmp (not ours) was overwritten, and through a symlink, whatever it pointed at.
    cap, key = _one_capture(tmp_path)
    mine = tmp_path / "h.json.tmp"
    mine.write_text("my notes\n")
    target = tmp_path / "elsewhere.txt"
    target.write_text("years of work\n")
    (tmp_path / "g.json.tmp").symlink_to(target)
    for history in ("h.json", "g.json"):
        r = earshot("verify", str(cap), "--key-file", str(key), "--history",
                    str(tmp_path / history))
        assert r.returncode == 0, r.stderr
        assert json.loads((tmp_path / history).read_text())["devices"]
    assert mine.read_text() == "my notes\n" and target.read_text() == "years of work\n"
    assert (tmp_path / "g.json.tmp").is_symlink() and not (tmp_path / "g.json").is_symlink()


def test_a_history_file_that_is_not_ours_is_refused_and_left_alone(tmp_path):
    cap, key = _one_capture(tmp_path)
    notes = tmp_path / "notes.json"
    # Notes, another format of ours (a newer earshot's), a damaged one, not an object.
    for text in ('{"my": "notes"}', '{"earshot_receiver": 2, "devices": {}}',
                 '{"earshot_receiver": 1, "devices": []}', '[1, 2]'):
        notes.write_text(text)
        r = earshot("verify", str(cap), "--key-file", str(key), "--history", str(notes))
        assert r.returncode == 1 and "not an earshot receiver history" in r.stderr, text
        assert len(r.stderr.strip().splitlines()) == 1
        assert notes.read_text() == text


def test_earshot_log_remembers_the_head_and_reports_a_rollback(board, tmp_path):
    from host_tools.hil.fixtures import DEVICE_ID, KEY as BOARD_KEY, connect

    c = connect(board.port)
    c.command("provision", device_id=DEVICE_ID, key=BOARD_KEY.hex())
    c.close()
    log = board.flash_dir / "data" / "log.txt"
    older = tmp_path / "older-log.txt"
    shutil.copy(log, older)
    board.press("mute")
    board.press("mute")  # two more entries
    r = earshot("log", "--port", board.port)
    assert r.returncode == 0 and "chain verified" in r.stdout, r.stderr
    # Someone with the flash (or a firmware bug) puts the older log back: it chains, but the
    # head this receiver verified last time is gone.
    board.power_cut()
    shutil.copy(older, log)
    board.power_on()
    board.wait_booted()
    r = earshot("log", "--port", board.port)
    assert r.returncode == 1 and ("rolled back" in r.stderr or "rewritten" in r.stderr)
    remembered = json.loads((tmp_path / "receiver-history.json").read_text())
    assert remembered["devices"][DEVICE_ID]["log_head"][0] > 0


def test_tampering_of_every_class_is_detected(tmp_path):
    for outcome in tamper.campaign(20):
        assert outcome.ok, outcome.line()


def test_earshot_keeps_what_it_remembers_in_one_place(tmp_path):
    # $EARSHOT_HOME is earshot's one place (earshot sim's boards, the dashboard's state, the
    # receiver history); $EARSHOT_STATE_DIR and $EARSHOT_HISTORY still move their part. Before,
    # the history ignored both $EARSHOT_HOME and $EARSHOT_STATE_DIR and stayed in ~/.local.
    import os

    cap, key = _one_capture(tmp_path)
    base = {k: v for k, v in os.environ.items()
            if k not in ("EARSHOT_HISTORY", "EARSHOT_STATE_DIR", "EARSHOT_HOME", "XDG_STATE_HOME")}
    base.update(HOME=str(tmp_path / "home"), EARSHOT_PORT="")

    def verify(**env):
        r = subprocess.run([sys.executable, "-m", "host_tools.cli", "verify", str(cap),
                            "--key-file", str(key)], capture_output=True, text=True,
                           timeout=120, env=dict(base, **env))
        assert r.returncode == 0, r.stderr

    verify(EARSHOT_HOME=str(tmp_path / "eh"))
    assert (tmp_path / "eh" / "state" / "receiver.json").is_file()
    verify(EARSHOT_HOME=str(tmp_path / "eh"), EARSHOT_STATE_DIR=str(tmp_path / "sd"))
    assert (tmp_path / "sd" / "receiver.json").is_file()
    verify(EARSHOT_STATE_DIR=str(tmp_path / "sd"), EARSHOT_HISTORY=str(tmp_path / "h.json"))
    assert (tmp_path / "h.json").is_file()
    verify()
    assert (tmp_path / "home" / ".local" / "state" / "earshot" / "receiver.json").is_file()


def test_a_modified_copy_of_a_capture_received_before_is_named_by_its_bad_chunk(tmp_path):
    # Before, a copy of a recording with one PCM byte flipped was reported as "header: replayed
    # (... recording <id>)", an id the user never saw; the header is the original's, the chunk
    # is what changed.
    from host_tools.records import sessions

    groups, _, key = _captures(tmp_path)
    records = tamper._flat(groups)
    a, b = tmp_path / "a.cap", tmp_path / "copy.cap"
    write_capture(a, records)
    assert earshot("verify", str(a), "--key-file", str(key)).returncode == 0
    i = next(i for i, r in enumerate(records)
             if isinstance(sessions.parse_record(r), sessions.Chunk))
    bad = list(records)
    bad[i] = bad[i][:-1] + bytes([bad[i][-1] ^ 0x01])
    write_capture(b, bad)
    r = earshot("verify", str(b), "--key-file", str(key))
    assert r.returncode == 1 and "chunk 0: modified" in r.stderr, r.stderr
    assert "replayed" not in r.stderr


def test_verify_with_another_key_says_to_check_the_key(tmp_path):
    a, _ = _one_capture(tmp_path)
    other = tmp_path / "other.hex"
    other.write_text("aa" * 32)
    r = earshot("verify", str(a), "--key-file", str(other))
    assert r.returncode == 1 and "header: forged" in r.stderr, r.stderr
    assert "check --key-file is this board's key" in r.stderr


def test_a_history_saved_by_two_programs_keeps_what_each_learnt(tmp_path):
    # A dashboard runs for days with the history it read at start; meanwhile `earshot
    # provision` records which chip took an id, and `record` receives sessions. Neither save
    # may take away what the other wrote (before, the last writer's copy won).
    import pytest

    from host_tools.errors import EarshotError
    from host_tools.records.history import History
    from host_tools.records.sessions import SessionInfo

    path = tmp_path / "h.json"
    dashboard, provision = History.load(path), History.load(path)
    provision.set_chip("kitchen", "02e5aabbccdd")
    provision.save()
    dashboard.commit([SessionInfo("hall", "00" * 8, 4, "alexa", 1, 0, tag="ab" * 32)], "live")
    dashboard.set_log_head("hall", (9, "cd" * 32))
    dashboard.save()
    both = History.load(path)
    assert both.chip("kitchen") == "02e5aabbccdd" and both.max_counter("hall") == 4
    provision.set_chip("hall", "02e5aabbccee")  # its old copy knows nothing of hall's sessions
    provision.save()
    both = History.load(path)
    assert both.max_counter("hall") == 4 and both.log_head("hall") == (9, "cd" * 32)
    assert both.chip("hall") == "02e5aabbccee" and both.chip("kitchen") == "02e5aabbccdd"
    # A file that stopped being ours meanwhile is refused, never overwritten.
    path.write_text('{"my": "notes"}')
    provision.set_chip("den", "02e5aabbccff")
    with pytest.raises(EarshotError):
        provision.save()
    assert path.read_text() == '{"my": "notes"}'
