"""A cut session is reported as cut (privacy contract point 9). `earshot record` keeps a session
whose end never arrived as <id>.truncated.*, and `earshot verify` of its sidecar says TRUNCATED,
with the cause, and exits 1, with or without its audio; a session the board ended early (mute)
says so; a sidecar edited to claim a whole session does not verify. `verify` takes many files.

The session files are made by the recorder's own code (records.recorder.store_session) from
records the host twin of the board's signer makes; checked with the installed `earshot`."""

import json
import random
import subprocess
import sys
from pathlib import Path

import pytest

from host_tools.records import sessions
from host_tools.records.history import History
from host_tools.records.recorder import store_session

EARSHOT = str(Path(sys.executable).with_name("earshot"))
KEY = bytes(range(32))
DEVICE = "kitchen"


def earshot(*args):
    return subprocess.run([EARSHOT, *args], capture_output=True, text=True, timeout=60)


class Board:
    """Signs sessions as the board does, one device chain."""

    def __init__(self):
        self.signer = sessions.Signer(KEY, DEVICE)
        self.counter = 0
        self.rng = random.Random(7)

    def session(self, chunks=3, flags=0b001, reason="speech_end", closed=True):
        self.counter += 1
        recs = [self.signer.open(self.rng.randbytes(8), self.counter, "alexa", flags, 0)]
        recs += [self.signer.chunk_record(self.rng.randbytes(3200)) for _ in range(chunks)]
        if closed:
            recs.append(self.signer.close(reason))
        return recs


@pytest.fixture
def out(tmp_path):
    d = tmp_path / "sessions"
    d.mkdir()
    (tmp_path / "k.hex").write_text(KEY.hex())
    return d


def keep(out, records, cut=None):
    history = History.load(out.parent / "history.json")
    stored = store_session(out, records, KEY, history, "recording test", "test", cut=cut)
    history.save()
    return stored.files[0]


def verify(out, *files):
    return earshot("verify", *map(str, files), "--key-file", str(out.parent / "k.hex"),
                   "--history", str(out.parent / "history.json"))


def test_a_session_cut_by_a_power_loss_is_truncated_without_its_audio(out):
    side = keep(out, Board().session(closed=False),
                cut="the board lost power or was switched off and on (power-on)")
    assert side.name.endswith(".truncated.json")
    r = verify(out, side)
    assert r.returncode == 1 and len(r.stderr.splitlines()) == 1, r.stderr
    assert "was cut off: TRUNCATED, no end signed by the board arrived (the board lost power" \
        in r.stderr
    assert "3 chunks, 9600 bytes were received" in r.stderr


def test_a_session_cut_with_its_audio_kept_names_the_cause(out):
    side = keep(out, Board().session(flags=0b101, closed=False),
                cut="the recording was stopped (SIGTERM)")
    assert json.loads(side.read_text())["capture"]
    r = verify(out, side)
    assert r.returncode == 1 and "truncated" in r.stderr, r.stderr
    assert "the session was cut off (the recording was stopped (SIGTERM))" in r.stderr


def test_a_whole_session_without_audio_verifies_with_its_signed_end(out):
    side = keep(out, Board().session())
    r = verify(out, side)
    assert r.returncode == 0, r.stderr
    assert "session header and its signed end verified (0.3 s, 9600 bytes, ended speech_end)" \
        in r.stdout


def test_a_session_the_board_ended_by_mute_says_it_was_cut_at_the_board(out):
    side = keep(out, Board().session(reason="mute"))
    r = verify(out, side)
    assert r.returncode == 0 and "ended mute: cut off at the board by mute" in r.stdout


def _claim_whole(side, other):
    """Edit a truncated sidecar into a whole one, with the end of another real session."""
    meta = json.loads(side.read_text())
    donor = json.loads(other.read_text())
    for name in ("end_record", "end_prev", "received_chunks", "received_bytes", "bytes", "ms",
                 "end", "digest"):
        meta[name] = donor[name]
    meta.update(truncated=False, verified=True, cut=None)
    side.write_text(json.dumps(meta))


def test_a_sidecar_edited_to_claim_a_whole_session_does_not_verify(out):
    board = Board()
    whole = keep(out, board.session(chunks=90))  # a whole 9 s session of the same board
    cut = keep(out, board.session(closed=False), cut="the board restarted")
    _claim_whole(cut, whole)
    r = verify(out, cut)
    assert r.returncode == 1 and len(r.stderr.splitlines()) == 1, r.stderr
    assert "its end record is not the one received for this session" in r.stderr

    meta = json.loads(cut.read_text())  # an end record made up, or one field changed
    meta["end_record"] = meta["end_record"][:-2] + ("00" if meta["end_record"][-2:] != "00"
                                                    else "01")
    cut.write_text(json.dumps(meta))
    assert "does not verify under this key" in verify(out, cut).stderr
    meta = json.loads(whole.read_text())
    meta["ms"] = 9999
    whole.write_text(json.dumps(meta))
    assert "says ms 9999 but the board signed 9000" in verify(out, whole).stderr
    for name in ("end_record", "end_prev"):  # fields removed: nothing says how it ended
        meta = json.loads(whole.read_text())
        del meta[name]
        whole.write_text(json.dumps(meta))
        assert "holds nothing the board signed about how the session ended" in \
            verify(out, whole).stderr


def test_verify_takes_many_files_a_line_each_and_fails_if_any_does(out):
    board = Board()
    a = keep(out, board.session())
    b = keep(out, board.session(closed=False), cut="the board restarted")
    c = keep(out, board.session(flags=0b101))
    r = verify(out, a, c)
    assert r.returncode == 0, r.stderr
    assert [line.split()[:2] for line in r.stdout.splitlines()] == [["OK", str(a) + ":"],
                                                                     ["OK", str(c) + ":"]]
    r = verify(out, *sorted(out.glob("*.json")))
    assert r.returncode == 1 and r.stderr == "earshot: 1 of 3 files do not verify\n", r.stderr
    lines = r.stdout.splitlines()
    assert len(lines) == 3 and sum(line.startswith("OK ") for line in lines) == 2
    assert [line for line in lines if line.startswith("FAILED %s" % b)]


# -- earshot record against a virtual board ----------------------------------------------------

import os  # noqa: E402
import signal  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402

from host_tools.hil.fixtures import KEY as BOARD_KEY  # noqa: E402
from host_tools.hil.fixtures import speech_like  # noqa: E402


class Recording:
    """`earshot record` without --seconds (until Ctrl-C or SIGTERM), as the README runs it."""

    def __init__(self, board, tmp_path, name, history):
        key = tmp_path / "board.key"
        key.write_text(BOARD_KEY.hex() + "\n")
        self.out = tmp_path / name
        self.proc = subprocess.Popen(
            [EARSHOT, "record", "--port", board.port, "--out", str(self.out), "--key-file",
             str(key), "--history", str(history)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        assert "recording sessions from" in self.proc.stdout.readline()

    def stop(self, sig):
        self.proc.send_signal(sig)
        out, err = self.proc.communicate(timeout=60)
        return self.proc.returncode, out, err


class Talker:
    """Someone talking at the board at its own pace (audio queued a little ahead of the
    board's clock, not all at once: queued audio plays faster than real time), so a session
    stays open until the talking stops or reaches the gate's maximum."""

    def __init__(self, board):
        self.board = board
        self.stop = threading.Event()
        self.piece = speech_like(0.1)
        self.thread = threading.Thread(target=self._talk, daemon=True)

    def _talk(self):
        while not self.stop.is_set():
            if self.board.world.queued_seconds() < 0.15:
                self.board.play(self.piece)
            time.sleep(0.02)

    def __enter__(self):
        start = self.board.time_s
        self.board.press("action")
        self.thread.start()
        # The header left the board, and the recorder had wall time to read it.
        assert self.board.world.wait_board_time(start + 1.0, wall_timeout=60)
        time.sleep(0.5)
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join()


@pytest.mark.parametrize("sig, how", [(signal.SIGTERM, "SIGTERM"), (signal.SIGINT, "Ctrl-C")])
def test_a_stopped_recorder_keeps_the_session_it_cut_as_truncated(ready, tmp_path, sig, how):
    board, client = ready
    client.close()
    rec = Recording(board, tmp_path, "s", tmp_path / "h.json")
    with Talker(board):
        rc, out, err = rec.stop(sig)
    assert rc == 1 and len(err.splitlines()) == 1, (out, err)
    assert "stopped (%s) in the middle of session" % how in err and "truncated" in err
    kept = sorted(p.name for p in rec.out.iterdir())
    assert len(kept) == 1 and kept[0].endswith(".truncated.json"), kept
    r = verify_with(tmp_path, rec.out / kept[0])
    assert r.returncode == 1 and "TRUNCATED" in r.stderr, r.stderr
    assert "the recording was stopped (%s)" % how in r.stderr


def verify_with(tmp_path, side):
    return earshot("verify", str(side), "--key-file", str(tmp_path / "board.key"),
                   "--history", str(tmp_path / "h.json"))


def test_stopping_a_recorder_between_sessions_is_success(ready, tmp_path):
    board, client = ready
    client.close()
    for sig in (signal.SIGINT, signal.SIGTERM):
        rec = Recording(board, tmp_path, "quiet-%d" % sig, tmp_path / "h.json")
        time.sleep(0.5)
        rc, out, err = rec.stop(sig)
        assert rc == 0 and err == "", (sig, out, err)


def test_a_power_cut_mid_session_is_kept_truncated_with_its_cause(ready, tmp_path):
    board, client = ready
    client.close()
    rec = Recording(board, tmp_path, "s", tmp_path / "h.json")
    with Talker(board):
        board.power_cut()
    board.power_on()
    board.wait_booted()
    deadline = time.monotonic() + 60
    while not list(rec.out.glob("*.truncated.json")):
        assert time.monotonic() < deadline and rec.proc.poll() is None
        time.sleep(0.2)
    rc, out, err = rec.stop(signal.SIGINT)
    assert "TRUNCATED (cut off: the board lost power" in out, out
    side = next(rec.out.glob("*.truncated.json"))
    r = verify_with(tmp_path, side)
    assert r.returncode == 1 and "TRUNCATED" in r.stderr and "lost power" in r.stderr


def test_a_first_session_lost_with_its_recorder_is_noticed_by_the_next(ready, tmp_path):
    board, client = ready
    client.close()
    history = tmp_path / "h.json"
    rec = Recording(board, tmp_path, "a", history)
    with Talker(board):
        rec.proc.kill()  # SIGKILL: nothing of the device's first session is kept
        rec.proc.communicate(timeout=60)
    assert not list(rec.out.iterdir())
    board.wait_audio_done()
    time.sleep(2.0)  # the session ends on the board (nobody listens)
    rec = Recording(board, tmp_path, "b", history)
    start = board.time_s
    board.press("action")
    board.play(speech_like(1.5) + bytes(16000 * 2 * 2))
    board.wait_audio_done()
    assert board.world.wait_board_time(start + 4, wall_timeout=60)
    deadline = time.monotonic() + 60
    while rec.proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.2)
    rc, out, err = rec.stop(signal.SIGINT)
    assert rc == 1 and "a session the board sent before it was never received" in err, (out, err)


def test_the_session_a_history_started_at_is_received_after_all_not_a_replay(tmp_path):
    # A recorder greets the board while a session's header is already on the line: the
    # history starts at that session (the board's `last_session`), which then arrives.
    board = Board()
    first = board.session()
    history = History(tmp_path / "h.json")
    history.baseline(DEVICE, 1, sessions.parse_record(first[0]).tag.hex(), "baseline")
    result = sessions.verify_stream(first, KEY, history=history, source="rec")
    assert result.ok, result.failure
    history.commit(result.headers, "rec")
    assert sessions.verify_stream(board.session(), KEY, history=history, source="rec").ok
    lost = board.session()  # never received here
    late = sessions.verify_stream(board.session(), KEY, history=history, source="rec")
    assert lost and late.failure.reason == "dropped"


def test_a_session_cut_by_mute_is_kept_whole_and_verify_says_mute_cut_it(ready, tmp_path):
    board, client = ready
    client.close()
    rec = Recording(board, tmp_path, "s", tmp_path / "h.json")
    with Talker(board):
        board.press("mute")  # the household mutes mid-sentence: the board ends the session
        deadline = time.monotonic() + 60
        while not list(rec.out.glob("*.json")):
            assert time.monotonic() < deadline
            time.sleep(0.2)
    rc, out, err = rec.stop(signal.SIGINT)
    assert rc == 0, (out, err)
    (side,) = rec.out.glob("*.json")
    assert not side.name.endswith(".truncated.json")
    r = verify_with(tmp_path, side)
    assert r.returncode == 0 and "ended mute: cut off at the board by mute" in r.stdout, r
