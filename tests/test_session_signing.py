"""Sessions signed on the board (MicroPython) verify on the host, and every tampering is caught
with the right reason (privacy contract point 4)."""

import json
import random

import pytest

from host_tools import cli
from host_tools.records.sessions import (
    Signer,
    chunk_record,
    parse_capture,
    parse_record,
    sign_session,
    verify_stream,
    write_capture,
)
from tests.mpy import run_mpy

KEY = bytes(range(32))
OTHER_KEY = bytes(range(1, 33))
DEVICE = "earshot-test-01"


def board_sign(key, device, sessions):
    """Sign sessions with firmware/earshot/session.py in MicroPython; return lists of records."""
    spec = [
        dict(s, sid=s["sid"].hex(), chunks=[c.hex() for c in s["chunks"]]) for s in sessions
    ]
    code = (
        "import json, binascii\n"
        "from earshot.session import SessionSigner\n"
        "unhex = binascii.unhexlify\n"
        "signer = SessionSigner(unhex(%r), %r)\n"
        "out = []\n"
        "prev = bytes(32)\n"
        "for s in json.loads(%r):\n"
        "    recs = [signer.open(unhex(s['sid']), s['counter'], s['wake'], s['flags'],"
        " s['start'], prev)]\n"
        "    prev = recs[0][-32:]\n"
        "    for i, c in enumerate(s['chunks']):\n"
        "        pcm = bytearray(unhex(c))\n"
        "        index, tag = signer.chunk(pcm)\n"
        "        assert index == i\n"
        "        recs.append(bytes(signer.prefix) + pcm + tag)\n"
        "    recs.append(signer.close(s['reason']))\n"
        "    assert signer.digest == recs[-1][-32:]\n"
        "    out.append([binascii.hexlify(r).decode() for r in recs])\n"
        "print(json.dumps(out))\n"
    ) % (key.hex(), device, json.dumps(spec))
    return [[bytes.fromhex(r) for r in recs] for recs in json.loads(run_mpy(code))]


def _session(counter, nchunks, seed, size=640):
    rng = random.Random(seed)
    return dict(sid=rng.randbytes(8), counter=counter, wake="hey_earshot", flags=0b00101,
                start=123456789012 + counter, chunks=[rng.randbytes(size) for _ in range(nchunks)],
                reason="speech_end")


@pytest.fixture(scope="module")
def signed():
    """Three sessions signed on the board (counters 5, 6, 7), plus one under another key."""
    sessions = [_session(5, 10, 1), _session(6, 10, 2), _session(7, 3, 3, size=16)]
    good = board_sign(KEY, DEVICE, sessions)
    forged = board_sign(OTHER_KEY, DEVICE, [_session(8, 4, 4)])[0]
    return sessions, good, forged


def _fails(records, reason, where, key=KEY, **kw):
    result = verify_stream(records, key, **kw)
    assert not result.ok, "expected %s at %s" % (reason, where)
    assert (result.failure.reason, result.failure.where) == (reason, where), str(result.failure)
    return result.failure


def test_board_signed_sessions_verify_on_host_and_match_host_signer_bytes(signed):
    sessions, good, _ = signed
    result = verify_stream([r for recs in good for r in recs], KEY)
    assert result.ok, result.failure
    assert [s.counter for s in result.sessions] == [5, 6, 7]
    first = result.sessions[0]
    assert (first.device_id, first.wake_word, first.consent) == (DEVICE, "hey_earshot",
                                                                 ["cloud", "retain"])
    assert (first.chunks, first.nbytes, first.duration_ms, first.reason) == (10, 6400, 200,
                                                                            "speech_end")
    assert first.start_ms == 123456789017
    assert first.digest == good[0][-1][-32:].hex()
    prev = bytes(32)
    for s, recs in zip(sessions, good):
        host = sign_session(KEY, DEVICE, s["sid"], s["counter"], s["chunks"], wake_word=s["wake"],
                            flags=s["flags"], start_ms=s["start"], reason=s["reason"], prev=prev)
        assert host == recs
        prev = recs[0][-32:]


def test_chunk_record_helper_builds_the_board_bytes(signed):
    _, good, _ = signed
    c = parse_record(good[0][3])
    assert chunk_record(c.index, c.pcm, c.tag) == good[0][3]


def test_a_flipped_pcm_byte_is_modified(signed):
    recs = list(signed[1][0])
    r = bytearray(recs[4])
    r[100] ^= 0x01
    recs[4] = bytes(r)
    _fails(recs, "modified", "chunk 3")


def test_every_single_byte_flip_anywhere_in_a_session_is_rejected(signed):
    recs = signed[1][2]  # header, 3 chunks of 16 bytes, close
    for i, rec in enumerate(recs):
        for pos in range(len(rec)):
            bad = bytearray(rec)
            bad[pos] ^= 0x80
            stream = recs[:i] + [bytes(bad)] + recs[i + 1 :]
            result = verify_stream(stream, KEY)
            assert not result.ok, (i, pos)
            assert result.failure.reason in ("modified", "dropped", "reordered", "truncated")


def test_a_modified_header_field_is_modified_not_forged(signed):
    recs = list(signed[1][0])
    h = bytearray(recs[0])
    h[22] ^= 0x10  # consent flags: someone adds `training`
    recs[0] = bytes(h)
    _fails(recs, "modified", "header")


def test_swapped_chunks_are_reordered(signed):
    recs = list(signed[1][0])
    recs[4], recs[5] = recs[5], recs[4]  # chunks 3 and 4
    f = _fails(recs, "reordered", "chunk 3")
    assert str(f) == "chunk 3: reordered (arrives after chunk 4; session 1, counter 5)"


def test_a_missing_chunk_is_dropped(signed):
    recs = list(signed[1][0])
    del recs[4]
    _fails(recs, "dropped", "chunk 3")


def test_a_missing_last_chunk_is_dropped(signed):
    recs = list(signed[1][0])
    del recs[-2]
    _fails(recs, "dropped", "chunk 9")


def test_a_repeated_chunk_is_replayed(signed):
    recs = list(signed[1][0])
    recs.insert(4, recs[3])
    _fails(recs, "replayed", "chunk 2")


def test_a_repeated_session_is_replayed(signed):
    good = signed[1]
    _fails(good[0] + good[1] + good[0], "replayed", "header")


def test_a_session_whose_counter_did_not_increase_is_replayed(signed):
    good = signed[1]
    counters = {}
    assert verify_stream(good[1], KEY, counters).ok
    assert counters == {DEVICE: 6}
    _fails(good[0], "replayed", "header", last_counters=counters)


def test_a_chunk_from_another_session_fails(signed):
    good = signed[1]
    recs = list(good[0])
    recs[3] = good[1][3]  # chunk 2 of session 2 spliced into session 1
    _fails(recs, "modified", "chunk 2")


def test_a_session_without_close_is_truncated(signed):
    good = signed[1]
    _fails(good[0][:-1], "truncated", "chunk 10")
    _fails(good[0][:5], "truncated", "chunk 4")
    _fails(good[0][:-1] + good[1], "truncated", "chunk 10")


def test_a_session_signed_with_another_key_is_forged(signed):
    good, forged = signed[1], signed[2]
    _fails(forged, "forged", "header")
    f = _fails(good[0] + forged, "forged", "header")
    assert f.session == 2


def test_a_chunk_without_header_is_dropped(signed):
    _fails(signed[1][0][1:], "dropped", "chunk 0")


def test_board_signer_refuses_a_counter_that_does_not_increase():
    out = run_mpy(
        "from earshot.session import SessionSigner\n"
        "s = SessionSigner(bytes(32), 'dev')\n"
        "s.open(bytes(8), 3, 'w', 1, 0); s.close('mute')\n"
        "for c in (3, 2):\n"
        "    try:\n"
        "        s.open(bytes(8), c, 'w', 1, 0); print('accepted')\n"
        "    except ValueError as e:\n"
        "        print('refused')\n"
        "try:\n"
        "    s.chunk(b'x')\n"
        "except ValueError:\n"
        "    print('no session')\n"
    )
    assert out.splitlines() == ["refused", "refused", "no session"]


def test_earshot_verify_prints_ok_for_a_good_capture(signed, tmp_path, capsys):
    good = signed[1]
    cap, key = tmp_path / "s.cap", tmp_path / "k.hex"
    write_capture(cap, good[0] + good[1])
    key.write_text(KEY.hex() + "\n")
    assert cli.main(["verify", str(cap), "--key-file", str(key)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("OK %s: 2 sessions, 20 chunks" % cap)


def test_earshot_verify_names_the_first_bad_chunk_and_exits_1(signed, tmp_path, capsys):
    recs = list(signed[1][0])
    recs[8], recs[9] = recs[9], recs[8]
    cap, key = tmp_path / "s.cap", tmp_path / "k.bin"
    write_capture(cap, recs)
    key.write_bytes(KEY)
    assert cli.main(["verify", str(cap), "--key-file", str(key)]) == 1
    err = capsys.readouterr().err.strip()
    assert err == "earshot: %s: chunk 7: reordered (arrives after chunk 8; session 1, " \
                  "counter 5)" % cap


def test_earshot_verify_without_a_key_says_how_to_fix(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("EARSHOT_KEY_FILE", raising=False)
    assert cli.main(["verify", str(tmp_path / "x.cap")]) == 1
    assert "--key-file" in capsys.readouterr().err


def test_a_cut_off_capture_file_is_a_one_line_error(signed, tmp_path, capsys):
    cap, key = tmp_path / "s.cap", tmp_path / "k.bin"
    write_capture(cap, signed[1][0])
    cap.write_bytes(cap.read_bytes()[:-5])
    key.write_bytes(KEY)
    assert cli.main(["verify", str(cap), "--key-file", str(key)]) == 1
    assert "cut off inside record 12" in capsys.readouterr().err
    assert parse_capture(b"EARSHOT-CAPTURE-1\n") == []


def test_host_signer_refuses_nothing_but_round_trips():
    s = Signer(KEY, DEVICE)
    recs = [s.open(b"\x01" * 8, 1, "ptt", 0, 0), s.close("host_stop")]
    result = verify_stream(recs, KEY)
    assert result.ok and result.sessions[0].reason == "host_stop"
    assert result.sessions[0].chunks == 0


def test_a_bad_key_file_or_foreign_capture_is_a_one_line_error(signed, tmp_path, capsys):
    cap, key = tmp_path / "s.cap", tmp_path / "k.txt"
    write_capture(cap, signed[1][0])
    key.write_text("not a key")
    assert cli.main(["verify", str(cap), "--key-file", str(key)]) == 1
    assert "must hold 32 bytes or 64 hex digits" in capsys.readouterr().err
    key.write_bytes(KEY)
    cap.write_bytes(b"RIFF....WAVE")
    assert cli.main(["verify", str(cap), "--key-file", str(key)]) == 1
    assert capsys.readouterr().err.strip() == \
        "earshot: %s is not an Earshot capture (no 'EARSHOT-CAPTURE-1' header)" % cap


def test_a_gap_the_board_declares_verifies_and_the_board_and_host_sign_it_alike():
    # The board's gap record (firmware SessionSigner.gap) takes a chunk index in the chain: the
    # session verifies with one gap; dropping the gap record, or a forged one, does not.
    from host_tools.records.sessions import Signer, verify_stream

    out = run_mpy("""
import binascii
from earshot.session import SessionSigner
s = SessionSigner(bytes(range(32)), "dev")
recs = [s.open(bytes(8), 1, "ptt", 1, 0)]
i, tag = s.chunk(b"ab")
recs.append(bytes(s.prefix) + b"ab" + tag)
recs.append(s.gap())
i, tag = s.chunk(b"cd")
recs.append(bytes(s.prefix) + b"cd" + tag)
recs.append(s.close("speech_end"))
print(" ".join(binascii.hexlify(r).decode() for r in recs))
""")
    board = [bytes.fromhex(h) for h in out.split()]
    host = Signer(KEY, "dev")
    mine = [host.open(bytes(8), 1, "ptt", 1, 0), host.chunk_record(b"ab"), host.gap_record(),
            host.chunk_record(b"cd"), host.close("speech_end")]
    assert board == mine
    result = verify_stream(board, KEY)
    assert result.ok and result.sessions[0].gaps == 1 and result.sessions[0].nbytes == 4
    dropped = verify_stream(board[:2] + board[3:], KEY)
    assert not dropped.ok and dropped.failure.reason == "dropped"
    forged = board[2][:5] + bytes(32)
    assert not verify_stream(board[:2] + [forged] + board[3:], KEY).ok


def test_a_signing_key_is_at_least_16_bytes():
    out = run_mpy(r"""
from earshot.session import SessionSigner
for n in (32, 16, 15, 0):
    try:
        SessionSigner(bytes(range(n)), "kitchen")
        print(n, "taken")
    except ValueError:
        print(n, "refused")
""")
    assert out.splitlines() == ["32 taken", "16 taken", "15 refused", "0 refused"]
