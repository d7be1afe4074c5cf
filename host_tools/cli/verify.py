"""`earshot verify FILE... [--key-file F]`: check captures, or sessions kept by `earshot record`.

A capture (`.cap`) is verified record by record: `OK` and one line per session, or one line
naming the first bad chunk and why, e.g.
`earshot: s.cap: chunk 7: reordered (arrives after chunk 8; session 1, counter 41)`.
A session sidecar (`.json` from earshot record) verifies its capture if one was kept, else
its signed header (who sent it, its counter and consent; the audio was not kept) and its signed
end (how long it was and how it ended; a session whose end never arrived is reported as cut
off, exit status 1); the sidecar's claims and the .wav kept beside it must be what was signed.
Several files: a line each (OK or FAILED), exit status 1 if any does not verify.
What it received is remembered in the receiver history (docs/sessions.md), so the same session
in another capture, or a session missing between two captures, fails too; a session kept by
`earshot record` is remembered under its recording, so verifying it again later is no replay.
"""

import os


def setup(parser):
    from ..board.keys import KEY_ENV
    from .common import add_history_argument, add_json_argument

    parser.add_argument("capture", metavar="FILE", nargs="+",
                        help="capture files, or sessions' .json from earshot record (several: "
                             "a line each, exit status 1 if any does not verify)")
    parser.add_argument("--key-file", metavar="F", default=os.environ.get(KEY_ENV),
                        help="the board's signing key: 32 bytes or 64 hex digits "
                             "(default: $%s)" % KEY_ENV)
    add_json_argument(parser, "the verified sessions")
    add_history_argument(parser)


def run(args):
    import sys

    from ..board.keys import read_key
    from ..errors import EarshotError
    from .common import print_json

    key = read_key(args.key_file)
    if len(args.capture) == 1:
        checked = _check(args.capture[0], key, args.history)
        if args.json:
            print_json(checked["json"])
        else:
            print("\n".join(checked["lines"]))
        return 0
    # Many files (`earshot verify sessions/*.json`): one line each, every one checked.
    failed = 0
    results = []
    for path in args.capture:
        try:
            checked = _check(path, key, args.history)
        except EarshotError as e:
            failed += 1
            why = " ".join(str(e).split())
            results.append({"ok": False, "file": path, "error": why})
            if not args.json:
                print("FAILED %s" % (why if why.startswith(path) else "%s: %s" % (path, why)),
                      flush=True)
            continue
        results.append(checked["json"])
        if not args.json:
            print(checked["lines"][0], flush=True)
    if args.json:
        print_json(results)
    if failed:
        print("earshot: %d of %d files do not verify" % (failed, len(args.capture)),
              file=sys.stderr)
        return 1
    return 0


def _check(file, key, history_path):
    """Verify one file; {"lines": what to print, "json": the --json object}, or EarshotError."""
    from ..errors import EarshotError
    from ..records.history import History
    from ..records.sessions import TEST_FLAG, read_capture, verify_stream
    from ..vocabulary import consent_text

    path = file
    header_only = meta = None
    if path.endswith(".json"):
        path, header_only, meta = _from_sidecar(path, key)
    if header_only is not None:
        h = header_only
        _check_claims(file, meta, h.session_id.hex(), h.device_id, h.counter, h.flags)
        end = _signed_end(file, meta, h, key, History.load(history_path))
        return {"json": {"ok": True, "file": file, "audio_kept": False,
                         "sessions": [dict(_header_json(h), **end)]},
                "lines": [
                    "OK %s: session header and its signed end verified (%.1f s, %d bytes, ended "
                    "%s%s); its audio was not kept (no retain consent)" % (
                        file, end["ms"] / 1000, end["bytes"], end["end"],
                        ": " + _CUT_AT_BOARD[end["end"]] if end["end"] in _CUT_AT_BOARD
                        else ""),
                    "  #%d %s %s wake=%s start=%dms consent %s%s" % (
                        h.counter, h.device_id, h.session_id.hex(), h.wake_word or "-",
                        h.start_ms, consent_text(h.flags), _TEST if h.flags & TEST_FLAG else "")]}
    records = read_capture(path)
    history = History.load(history_path)
    source = _source(path, records)
    result = verify_stream(records, key, history=history, source=source, replay_last=True)
    history.commit(result.headers, source)
    history.save()
    if not result.ok:
        if source.startswith("record ") and result.failure.reason == "replayed":
            _moved_old_recording(path, records, history, source)
        hint = ""
        if result.failure.where == "header" and result.failure.reason == "forged":
            hint = ": check --key-file is this board's key"  # as earshot record says
        if result.failure.reason == "truncated":
            hint = ": the session was cut off (%s)" % (
                (meta or {}).get("cut") or "no end signed by the board arrived")
        raise EarshotError("%s: %s%s" % (path, result.failure, hint))
    if not result.sessions:
        raise EarshotError("%s: holds no sessions" % path)
    if meta is not None:
        _check_kept(file, meta, result, records)
    total_ms = sum(s.duration_ms for s in result.sessions)
    lines = ["OK %s: %d session%s, %d chunks, %.1f s of audio" % (
        file, len(result.sessions), "" if len(result.sessions) == 1 else "s",
        sum(s.chunks for s in result.sessions), total_ms / 1000)]
    for s in result.sessions:
        lines.append("  #%d %s %s wake=%s start=%dms %dms %dB consent %s end=%s digest=%s%s%s" % (
            s.counter, s.device_id, s.session_id, s.wake_word or "-", s.start_ms,
            s.duration_ms, s.nbytes, consent_text(s.flags), s.reason, s.digest[:16],
            " gaps=%d (audio the board lost there, and said so)" % s.gaps if s.gaps else "",
            _TEST if s.test else ""))
        if s.reason in _CUT_AT_BOARD:
            lines[-1] += " (%s)" % _CUT_AT_BOARD[s.reason]
    return {"lines": lines,
            "json": {"ok": True, "file": str(path), "audio_kept": True,
                     "sessions": [_session_json(s) for s in result.sessions]}}


# Ends the board signs when someone or something at the board cut a session short.
_CUT_AT_BOARD = {"mute": "cut off at the board by mute", "consent": "cut off when consent was "
                 "withdrawn", "error": "cut off by a firmware failure"}


def _signed_end(side, meta, header, key, history):
    """How a session kept without its audio ended, as the board signed it: its close record
    must verify under the key on the tag it chains on, agree with what was received and with
    the sidecar's claims, and (when this history received the session) be the one received.
    A session whose end never arrived is reported as cut off: EarshotError."""
    from ..errors import EarshotError
    from ..records.sessions import BYTES_PER_MS, REASONS, Close, RecordError, _tag_ok, parse_record

    if "end_record" not in meta or "end_prev" not in meta:
        raise EarshotError("%s holds nothing the board signed about how the session ended "
                           "(kept by an earlier earshot, or edited): it cannot be told from a "
                           "session cut off" % side)
    sid = header.session_id.hex()
    if meta["end_record"] is None:
        raise EarshotError("%s: session %s (counter %d) was cut off: TRUNCATED, no end signed "
                           "by the board arrived (%s); %s chunks, %s bytes were received, its "
                           "audio was not kept" % (side, sid, header.counter,
                                                    meta.get("cut") or "cause unknown",
                                                    meta.get("received_chunks", "?"),
                                                    meta.get("received_bytes", "?")))
    try:
        close = parse_record(bytes.fromhex(meta["end_record"]))
        prev = bytes.fromhex(meta["end_prev"])
        if not isinstance(close, Close) or len(prev) != 32:
            raise ValueError("not a close record")
    except (TypeError, ValueError, RecordError) as e:
        raise EarshotError("%s: its end record is damaged (%s)" % (side, e)) from None
    if not _tag_ok(bytes(key), close.tag, prev, close.body) or (
            close.count == 0 and prev != header.tag):
        raise EarshotError("%s: its end record does not verify under this key (edited)" % side)
    end = REASONS.get(close.reason, "reason %d" % close.reason)
    signed = {"received_chunks": close.count, "received_bytes": close.nbytes,
              "bytes": close.nbytes, "ms": close.nbytes // BYTES_PER_MS, "end": end,
              "digest": close.tag.hex(), "truncated": False}
    for name, value in signed.items():
        if meta.get(name) != value:
            raise EarshotError("%s says %s %s but the board signed %s: the sidecar was edited"
                               % (side, name, meta.get(name), value))
    known = history.get(header.device_id, header.counter)
    if known and known.get("tag") == header.tag.hex() and known.get("digest") != close.tag.hex():
        raise EarshotError("%s: its end record is not the one received for this session (%s): "
                           "the sidecar was edited" % (side, "this receiver got no end for it"
                                                       if not known.get("digest") else
                                                       "the receiver history has %s"
                                                       % known["digest"][:16]))
    return {"ms": close.nbytes // BYTES_PER_MS, "bytes": close.nbytes, "chunks": close.count,
            "end": end, "digest": close.tag.hex()}


_TEST = " TEST (audio may be the host's own, not a wake word anyone said)"


def _source(path, records):
    """The name the receiver history remembers these records by: the recording a capture was
    kept by (the sidecar beside it names it: its id moves with it; an older sidecar without
    one, its directory), else the capture's own content."""
    import hashlib
    import json
    from pathlib import Path

    from ..records.recorder import record_source, recording_source

    cap = Path(path)
    for side in cap.parent.glob("*.json"):
        try:
            meta = json.loads(side.read_text())
            if meta.get("capture") == cap.name:
                recording = meta.get("recording")
                if isinstance(recording, str) and recording.isalnum():
                    return recording_source(recording)
                return record_source(cap.parent)
        except (OSError, ValueError, AttributeError):
            continue
    digest = hashlib.sha256()
    for r in records:
        digest.update(hashlib.sha256(r).digest())
    return "capture %s" % digest.hexdigest()[:16]


def _moved_old_recording(path, records, history, source):
    """A session recorded before recordings had ids is remembered under its directory: moved
    elsewhere, it cannot be told from a replay. Say so, rather than "replayed"."""
    from ..errors import EarshotError
    from ..records.sessions import Header, RecordError, parse_record

    try:
        head = parse_record(records[0])
    except (IndexError, RecordError):
        return
    known = history.get(head.device_id, head.counter) if isinstance(head, Header) else None
    was = (known or {}).get("source") or ""
    if was.startswith("record ") and was != source and known.get("tag") == head.tag.hex():
        raise EarshotError("%s was recorded by an earlier earshot, which remembers a recording "
                           "by its directory (%s); it has moved since: verify it there, or "
                           "pass --history with another file" % (path, was[len("record "):]))


def _beside(side, meta, field):
    """The file a sidecar names in `field`, which must be a plain name beside it (or None)."""
    from pathlib import Path

    from ..errors import EarshotError

    name = meta.get(field)
    if name is None:
        return None
    if not isinstance(name, str) or not name or Path(name).name != name or name in (".", ".."):
        raise EarshotError("%s names %r as its %s: not a file beside it (not a session kept by "
                           "earshot record, or edited)" % (side, name, field))
    return Path(side).with_name(name)


def _check_claims(side, meta, session_id, device_id, counter, flags):
    """A sidecar says what was recorded; each claim must be what the board signed."""
    from ..errors import EarshotError
    from ..records.sessions import flag_names

    signed = {"session_id": session_id, "device_id": device_id, "counter": counter,
              "consent": flag_names(flags)}
    for name, value in signed.items():
        if name in meta and meta[name] != value:
            raise EarshotError("%s says %s %s but the signed session has %s: the sidecar was "
                               "edited" % (side, name, meta[name], value))


def _check_kept(side, meta, result, records):
    """The session a sidecar describes: its claims, and the .wav kept beside it, are what the
    verified capture holds (a listener plays the .wav, not the capture)."""
    import wave

    from ..errors import EarshotError
    from ..records.sessions import CHUNK, parse_record

    if len(result.sessions) != 1:
        raise EarshotError("%s: its capture holds %d sessions, a recorded one holds one"
                           % (side, len(result.sessions)))
    s = result.sessions[0]
    _check_claims(side, meta, s.session_id, s.device_id, s.counter, s.flags)
    wav = _beside(side, meta, "audio")
    if wav is None:
        return
    pcm = b"".join(parse_record(r).pcm for r in records if r[:1] == bytes([CHUNK]))
    try:
        with wave.open(str(wav), "rb") as w:
            kept = w.readframes(w.getnframes())
            shape = (w.getnchannels(), w.getsampwidth(), w.getframerate())
    except (OSError, EOFError, wave.Error) as e:
        raise EarshotError("cannot read %s, the audio %s names: %s"
                           % (wav, side, getattr(e, "strerror", None) or e)) from None
    if kept != pcm or shape != (1, 2, 16000):
        raise EarshotError("%s is not the audio the board signed in this session (it was "
                           "replaced or edited)" % wav)


def _from_sidecar(path, key):
    """(capture path, None, meta) when the sidecar kept a capture, else (None, verified Header,
    meta)."""
    import json
    from pathlib import Path

    from ..errors import EarshotError
    from ..records.sessions import RecordError, verify_header

    try:
        meta = json.loads(Path(path).read_text())
        if not isinstance(meta, dict):
            raise ValueError
    except OSError as e:
        raise EarshotError("cannot read %s: %s" % (path, e.strerror or e)) from None
    except ValueError:
        raise EarshotError("%s is not a session kept by earshot record (not JSON)" % path) from None
    capture = _beside(path, meta, "capture")
    if capture is not None:
        return str(capture), None, meta
    if not meta.get("header"):
        raise EarshotError("%s holds no signed header: nothing to verify (%s)"
                           % (path, meta.get("failure") or "not a session kept by earshot record"))
    try:
        if not isinstance(meta["header"], str):
            raise ValueError("not hex")
        header = verify_header(bytes.fromhex(meta["header"]), key)
    except (ValueError, RecordError) as e:
        raise EarshotError("%s: its header record is damaged (%s)" % (path, e)) from None
    if header is None:
        raise EarshotError("%s: header: the tag does not verify under this key (another key, "
                           "or the header was changed)" % path)
    return None, header, meta


def _header_json(h):
    from ..vocabulary import flag_names

    return {"device_id": h.device_id, "session_id": h.session_id.hex(), "counter": h.counter,
            "wake_word": h.wake_word, "start_ms": h.start_ms, "consent": flag_names(h.flags)}


def _session_json(s):
    return {"device_id": s.device_id, "session_id": s.session_id, "counter": s.counter,
            "wake_word": s.wake_word, "start_ms": s.start_ms, "ms": s.duration_ms,
            "bytes": s.nbytes, "chunks": s.chunks, "consent": s.consent, "end": s.reason,
            "digest": s.digest, "test": s.test, "gaps": s.gaps}
