"""Receiving sessions from a board: assemble their records, verify them, store them.

Without the `retain` consent flag only the metadata is written, never the audio. A session
that never closed (the board lost power, reset, or the recording stopped) is stored too, marked
`"truncated": true` with what verified of it: it is never dropped silently. Every header that
verifies is remembered in the receiver history, so a replayed or missing session is caught
across runs as well.
"""

import json
import time
import wave
from pathlib import Path

from . import sessions
from .history import History


def store_session(out, records, key, history=None, source=None):
    """Verify one session's records and write it into directory `out`; returns the sidecar."""
    result = sessions.verify_stream(records, key, history=history, source=source)
    if history is not None:
        history.commit(result.headers, source)
    info = result.sessions[0] if result.sessions else (
        result.headers[0] if result.headers else None)
    truncated = result.failure is not None and result.failure.reason == "truncated"
    name = info.session_id if info else "session-%d" % int(time.time() * 1000)
    meta = {"verified": result.ok, "failure": str(result.failure) if result.failure else None,
            "truncated": truncated}
    if info:
        meta.update(device_id=info.device_id, counter=info.counter, wake_word=info.wake_word,
                    consent=info.consent, test=info.test, start_ms=info.start_ms,
                    bytes=info.nbytes, end=info.reason or None)
    # What verified may be kept: a whole session, or (flagged) the verified part of one cut off.
    keep_audio = (result.ok or truncated) and info is not None and "retain" in info.consent
    side = _free_name(Path(out), name)
    if keep_audio:
        pcm = b"".join(sessions.parse_record(r).pcm for r in records
                       if r[:1] == bytes([sessions.CHUNK]))[: info.nbytes]
        with wave.open(str(side.with_suffix(".wav")), "wb") as w:
            w.setnchannels(1)
            w.setsampwidth(2)
            w.setframerate(sessions.SAMPLE_RATE)
            w.writeframes(pcm)
    meta["audio"] = side.with_suffix(".wav").name if keep_audio else None
    side.write_text(json.dumps(meta, indent=1))
    return side


def _free_name(out, name):
    # Never overwrite: a session id seen twice (a replay) gets its own file beside the first.
    side = out / (name + ".json")
    n = 1
    while side.exists() or side.with_suffix(".wav").exists():
        side = out / ("%s.%d.json" % (name, n))
        n += 1
    return side


class Recorder:
    """Feeds session frames in order; stores each session when it closes or is cut off."""

    def __init__(self, out, key, history=None, say=print):
        self.out = Path(out)
        self.key = key
        self.history = history if history is not None else History()
        self.source = "record %s" % self.out.resolve()
        self.say = say
        self.records = []
        self.stored = []

    def header(self, payload):
        if self.records:
            self._store()  # a new header before the last one closed: that one was cut off
        self.records = [payload]

    def chunk(self, payload):
        self.records.append(payload)

    def close(self, payload):
        self.records.append(payload)
        self._store()

    def board_restarted(self):
        """The board booted again: a session in progress will never close."""
        if self.records:
            self._store()

    def finish(self):
        if self.records:
            self._store()
        self.history.save()

    def _store(self):
        side = store_session(self.out, self.records, self.key, self.history, self.source)
        self.records = []
        self.stored.append(side)
        meta = json.loads(side.read_text())
        what = "session stored" if meta["verified"] else (
            "TRUNCATED session stored" if meta["truncated"] else "session FAILED verification")
        self.say("%s: %s%s%s" % (what, side, " (test mode)" if meta.get("test") else "",
                                 "" if meta["verified"] else " - %s" % meta["failure"]))
        self.history.save()
