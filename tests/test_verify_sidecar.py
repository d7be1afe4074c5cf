"""`earshot verify <id>.json` on a session kept by `earshot record`: what it says OK to is what
was signed, the sidecar's claims and the kept .wav included; a damaged sidecar is a one-line
error. The session files are made by the recorder's own code (records.recorder.store_session),
then checked with the installed `earshot` as a user does."""

import json
import random
import subprocess
import sys
import wave
from pathlib import Path

import pytest

from host_tools.records.recorder import store_session
from host_tools.security import tamper

EARSHOT = str(Path(sys.executable).with_name("earshot"))


def verify(path, key):
    return subprocess.run([EARSHOT, "verify", str(path), "--key-file", str(key)],
                          capture_output=True, text=True, timeout=60)


@pytest.fixture
def kept(tmp_path):
    """(sidecar, key file) of one verified session recorded under consent `history`."""
    rng = random.Random(3)
    groups, _ = tamper._sessions(rng, 1)
    # tamper's sessions carry flags 1 (cloud); re-sign one with cloud + retain (0b101)
    from host_tools.records import sessions

    s = sessions.Signer(tamper.KEY, tamper.DEVICE)
    records = [s.open(rng.randbytes(8), 1, "alexa", 0b101, 0)]
    records += [s.chunk_record(rng.randbytes(3200)) for _ in range(3)]
    records.append(s.close("speech_end"))
    out = tmp_path / "sessions"
    out.mkdir()
    stored = store_session(out, records, tamper.KEY)
    assert stored.verified and stored.meta["audio"]
    key = tmp_path / "k.hex"
    key.write_text(tamper.KEY.hex())
    return stored.files[0], key


def test_a_kept_session_verifies_as_recorded(kept):
    side, key = kept
    r = verify(side, key)
    assert r.returncode == 0 and r.stdout.startswith("OK "), r.stderr


def test_a_kept_wav_that_is_not_the_signed_audio_fails(kept):
    side, key = kept
    wav = side.with_name(json.loads(side.read_text())["audio"])
    with wave.open(str(wav), "wb") as w:  # someone else's audio in its place
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16000)
        w.writeframes(bytes(9600))
    r = verify(side, key)
    assert r.returncode == 1 and len(r.stderr.splitlines()) == 1, r.stderr
    assert "is not the audio the board signed" in r.stderr


def test_a_sidecar_whose_claims_were_edited_fails(kept):
    side, key = kept
    meta = json.loads(side.read_text())
    meta["consent"], meta["consent_text"] = [], "private (no flags)"
    side.write_text(json.dumps(meta))
    r = verify(side, key)
    assert r.returncode == 1 and len(r.stderr.splitlines()) == 1, r.stderr
    assert "says consent [] but the signed session has ['cloud', 'retain']" in r.stderr


@pytest.mark.parametrize("meta, says", [
    ({"capture": "../elsewhere.cap"}, "not a file beside it"),
    ({"capture": "sub/x.cap"}, "not a file beside it"),
    ({"capture": 5}, "not a file beside it"),
    ({"header": 5}, "its header record is damaged"),
    ({"header": "zz"}, "its header record is damaged"),
])
def test_a_damaged_sidecar_is_a_one_line_error(tmp_path, meta, says):
    side = tmp_path / "s.json"
    side.write_text(json.dumps(meta))
    key = tmp_path / "k.hex"
    key.write_text(tamper.KEY.hex())
    r = verify(side, key)
    assert r.returncode == 1 and len(r.stderr.splitlines()) == 1, r.stderr
    assert r.stderr.startswith("earshot: ") and says in r.stderr, r.stderr


def _recorded(out, records, history):
    """Records as `earshot record` receives them (frames off the line) into recorder `out`."""
    from host_tools.link.protocol import (T_SESSION_CHUNK, T_SESSION_CLOSE, T_SESSION_HEADER,
                                          FrameParser, encode_frame)
    from host_tools.records.history import History
    from host_tools.records.recorder import Recorder

    kinds = {b"H": T_SESSION_HEADER, b"C": T_SESSION_CHUNK, b"E": T_SESSION_CLOSE}
    line = b"".join(encode_frame(kinds[r[:1]], i, r) for i, r in enumerate(records, 1))
    hist = History.load(history)
    recorder = Recorder(out, tamper.KEY, hist)
    return [s for s in map(recorder.feed, FrameParser().feed(line)) if s is not None]


def test_a_recording_moved_elsewhere_still_verifies_and_a_replay_in_another_still_fails(
        kept, tmp_path):
    # Before, the history named a recording's sessions by the directory's absolute path, so a
    # moved recording came back "replayed (... record /abs/sessions)".
    from host_tools.records.recorder import prepare_out

    from host_tools.records.sessions import read_capture

    side, key = kept
    records = read_capture(side.with_name(json.loads(side.read_text())["capture"]))
    history = tmp_path / "history.json"
    [stored] = _recorded(prepare_out(tmp_path / "home" / "sessions"), records, history)
    assert stored.verified
    moved = tmp_path / "usb-stick" / "kitchen"
    moved.parent.mkdir()
    (tmp_path / "home" / "sessions").rename(moved)
    r = subprocess.run([EARSHOT, "verify", str(moved / stored.files[0].name), "--key-file",
                        str(key), "--history", str(history)], capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 0 and r.stdout.startswith("OK "), r.stderr
    assert json.loads((moved / stored.files[0].name).read_text())["recording"]
    # The same session received again by another recording (sent again on the line): a replay.
    [again] = _recorded(prepare_out(tmp_path / "later"), records, history)
    assert not again.verified and "replayed" in again.meta["failure"]


def test_a_moved_recording_made_before_recording_ids_is_refused_clearly(tmp_path):
    from host_tools.records.history import History
    from host_tools.records.recorder import record_source
    from host_tools.records import sessions

    rng = random.Random(5)
    s = sessions.Signer(tamper.KEY, tamper.DEVICE)
    records = [s.open(rng.randbytes(8), 1, "alexa", 0b101, 0), s.chunk_record(bytes(3200)),
               s.close("speech_end")]
    out = tmp_path / "old"
    out.mkdir()
    history = History(tmp_path / "history.json")
    stored = store_session(out, records, tamper.KEY, history, record_source(out))
    history.save()
    meta = json.loads(stored.files[0].read_text())
    meta.pop("recording", None)  # what an earlier earshot wrote
    stored.files[0].write_text(json.dumps(meta))
    key = tmp_path / "k.hex"
    key.write_text(tamper.KEY.hex())

    def verify_old(where):
        return subprocess.run([EARSHOT, "verify", str(where / stored.files[0].name),
                               "--key-file", str(key), "--history",
                               str(tmp_path / "history.json")],
                              capture_output=True, text=True, timeout=60)

    assert verify_old(out).returncode == 0  # where it was made: as before
    out.rename(tmp_path / "moved")
    r = verify_old(tmp_path / "moved")
    assert r.returncode == 1 and len(r.stderr.strip().splitlines()) == 1
    assert "has moved since: verify it there, or pass --history" in r.stderr, r.stderr
