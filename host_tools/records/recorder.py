"""Receiving sessions from a board: assemble their records, verify them, keep them.

For each session, in the output directory (never overwriting a file):

    <id>.json   always: what it was (device, counter, consent, wake word, length, how it ended),
                whether it verified, and the signed header record, so `earshot verify <id>.json`
                re-checks who sent it under which consent even when no audio was kept
    <id>.cap    the session's signed records exactly as received (a capture file,
                docs/sessions.md), only when its consent has `retain`: it holds the audio
    <id>.wav    the audio, only when its consent has `retain` and the session verified

The rest of a session already under way when the recording starts has no header to verify it
by: it is not kept (the command says so; the board's transparency log lists the session).
A session that never closed (the board lost power or reset, or the recording stopped) is kept
the same way, marked `"truncated": true`, with the audio that verified up to the cut: never
dropped silently. Any other session that does not verify is kept as <id>.unverified.* (the
consent its header claims decides about audio) and reported as an error: nothing unverified
looks verified. Every header that verifies is remembered in the receiver history
(records/history.py), so a replayed or missing session is caught across runs as well.

Each run of the recorder is a *recording* with a random id, written into every sidecar
(`"recording"`): the history remembers its sessions under that id, so `earshot verify` of a
kept session is the same reception wherever the directory has moved, and a session received
again in another run (a replay on the line) is not. Sidecars from before recording ids name
their recording by its directory (record_source): they verify where they were recorded.
"""

import json
import secrets
import time
import wave
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import EarshotError
from ..link.protocol import T_EVENT, T_SESSION_CHUNK, T_SESSION_CLOSE, T_SESSION_HEADER
from ..vocabulary import consent_text, flag_names
from . import sessions
from .history import History


@dataclass
class Stored:
    name: str
    meta: dict
    files: list = field(default_factory=list)

    @property
    def verified(self):
        return self.meta["verified"]

    @property
    def truncated(self):
        return self.meta["truncated"]


def prepare_out(out):
    """The output directory, created if missing; a one-line error if it cannot be."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise EarshotError("--out %s is a file: give a directory for the sessions" % out)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise EarshotError("cannot create --out %s: %s" % (out, e.strerror or e)) from None
    return out


class Recorder:
    """Feed it the board's frames; it hands back a Stored for every session that ends."""

    def __init__(self, out, key, history=None):
        self.out = Path(out)
        self.key = key
        self.history = history if history is not None else History()
        self.recording = secrets.token_hex(8)
        self.source = recording_source(self.recording)
        self.records = []  # the open session's records
        self.joined_late = 0  # records of a session whose header was sent before we listened

    @property
    def in_session(self):
        return bool(self.records)

    def feed(self, frame):
        if frame.type == T_SESSION_HEADER:
            stored = self.flush() if self.records else None  # a header without its close
            self.records = [frame.payload]
            return stored
        if frame.type in (T_SESSION_CHUNK, T_SESSION_CLOSE) and not self.records:
            # The rest of a session that began before the recording did: without its header
            # nothing of it can be verified or attributed (the board's log lists it).
            self.joined_late += 1
            return None
        if frame.type == T_SESSION_CHUNK:
            self.records.append(frame.payload)
        elif frame.type == T_SESSION_CLOSE:
            self.records.append(frame.payload)
            return self.flush()
        elif frame.type == T_EVENT and frame.event().get("ev") == "boot":
            # The board started again: an open session will never close.
            return self.flush(_restart_cause(frame.event()))
        return None

    def flush(self, cut=None):
        """Keep what has been received of the open session (a cut-off one is kept truncated).
        `cut`: why no end can arrive any more (the board restarted, the recording stopped...),
        kept in the sidecar of a session that was cut off."""
        records, self.records = self.records, []
        if not records:
            return None
        stored = store_session(self.out, records, self.key, self.history, self.source,
                               self.recording, cut=cut)
        self.history.save()
        return stored

    def start(self, status):
        """The board's hello: a device this history has never heard of is remembered now, with
        the newest session the board says it sent (its status `last_session`), so a first
        session lost before anything was kept (the recorder killed) is noticed by the next
        recorder: the session after it chains to a header this history never received.
        A board that is not the one this computer gave its device id to is refused
        (EarshotError) before anything is received: its sessions, kept under that id, would
        make the real board's later sessions look like replays."""
        dev = status.get("device_id")
        last = status.get("last_session")
        refused = self.history.not_the_board(status)
        if refused:
            raise EarshotError(refused)
        if not dev or not isinstance(last, dict) or self.history.knows(dev):
            return
        if status.get("gate") in ("open", "closing"):
            # A session was streaming as the board answered: its header came before the
            # answer, so `last_session` is that one and this recorder receives it. It, not the
            # board's word, starts this history for the device.
            return
        counter, tag = last.get("counter"), last.get("tag")
        if isinstance(counter, int) and isinstance(tag, str) and len(tag) == 64:
            self.history.baseline(dev, counter, tag, "the board's last session before the "
                                  "first recording (%s)" % self.source)
            self.history.save()


def _restart_cause(boot):
    cause = boot.get("reset_cause")
    return {1: "the board lost power or was switched off and on (power-on)",
            2: "the board was reset (hard reset)", 3: "the board's watchdog reset it",
            5: "the board was soft-reset", 6: "the board's supply failed (brown-out)"}.get(
        cause, "the board restarted")


def recording_source(recording):
    """What the receiver history calls the sessions of the recording with this id (earshot
    verify of one of them later, wherever it is, is the same reception, not a replay)."""
    return "recording %s" % recording


def record_source(out):
    """What earshot called the sessions kept in directory `out` before recordings had ids
    (sidecars without "recording"): the directory, so they verify only where they were made."""
    return "record %s" % Path(out).resolve()


def store_session(out, records, key, history=None, source=None, recording=None, cut=None):
    """Verify one session's records and keep them in directory `out`; returns a Stored.
    `recording`: the id of the recording it belongs to, kept in its sidecar. `cut`: why the
    session's end never arrived, if it did not."""
    out = Path(out)
    result = sessions.verify_stream(records, key, history=history, source=source)
    if history is not None:
        history.commit(result.headers, source)
    truncated = result.failure is not None and result.failure.reason == "truncated"
    info = result.sessions[0] if result.ok and result.sessions else None
    if truncated and result.headers:
        info = result.headers[0]  # what verified of a session cut off
    try:
        head = sessions.parse_record(records[0])
    except (IndexError, sessions.RecordError):
        head = None
    if not isinstance(head, sessions.Header):
        head = None
    sid = head.session_id.hex() if head else "session-%d" % int(time.time() * 1000)
    name = sid if info and not truncated else sid + (".truncated" if truncated else ".unverified")
    flags = head.flags if head else 0
    closed = len(records) > 1 and records[-1][:1] == bytes([sessions.CLOSE])
    received = 0
    for r in records:
        if r[:1] == bytes([sessions.CHUNK]):
            try:
                received += len(sessions.parse_record(r).pcm)
            except sessions.RecordError:
                pass
    meta = {
        "verified": info is not None and not truncated,
        "truncated": truncated,
        "failure": str(result.failure) if result.failure else (
            None if info else "no session in the records"),
        "test": bool(info.test) if info else None,
        "session_id": sid,
        "device_id": head.device_id if head else None,
        "counter": head.counter if head else None,
        "wake_word": head.wake_word if head else None,
        "consent": flag_names(flags),
        "consent_text": consent_text(flags),
        "start_ms": head.start_ms if head else None,
        "bytes": info.nbytes if info else None,
        "ms": info.duration_ms if info else None,
        "end": (info.reason or None) if info else None,
        "digest": info.digest if info else None,
        "header": records[0].hex() if head else None,
        # How it ended, as the board signed it, so `earshot verify` of a sidecar without audio
        # knows a whole session from a cut one: the close record and the tag it chains on (the
        # last chunk's, or the header's), or null when no end arrived; what was received.
        "end_record": records[-1].hex() if closed else None,
        "end_prev": records[-2][-sessions.TAG_SIZE:].hex() if closed else None,
        "received_chunks": sum(1 for r in records if r[:1] == bytes([sessions.CHUNK])),
        "received_bytes": received,
        "cut": None if closed else (cut or "no end arrived"),
        "recording": recording,
        "capture": None,
        "audio": None,
    }
    stored = Stored(name, meta)
    # Audio is kept only under a consent with `retain` (for an unverified session: the consent
    # its header claims).
    if "retain" in meta["consent"]:
        cap = out / (name + ".cap")
        _create(cap, lambda f: sessions.write_capture_to(f, records))
        meta["capture"] = cap.name
        stored.files.append(cap)
        if info:  # whole and verified, or the verified part of one cut off (flagged)
            pcm = b"".join(sessions.parse_record(r).pcm for r in records
                           if r[:1] == bytes([sessions.CHUNK]))[: info.nbytes]
            wav = out / (name + ".wav")
            _create(wav, lambda f: _write_wav(f, pcm))
            meta["audio"] = wav.name
            stored.files.append(wav)
    side = out / (name + ".json")
    _create(side, lambda f: f.write(json.dumps(meta, indent=1).encode() + b"\n"))
    stored.files.insert(0, side)
    return stored


def _create(path, write):
    try:
        with open(path, "xb") as f:
            write(f)
    except FileExistsError:
        raise EarshotError("%s already exists: record into a new --out directory" % path) from None
    except OSError as e:
        raise EarshotError("cannot write %s: %s" % (path, e.strerror or e)) from None


def _write_wav(f, pcm):
    with wave.open(f, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(sessions.SAMPLE_RATE)
        w.writeframes(pcm)
