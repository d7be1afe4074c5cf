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
