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
