"""Receiving sessions from a board: assemble their records, verify them, store them.

Without the `retain` consent flag only the metadata is written, never the audio.
"""

import json
import time
import wave

from . import sessions


def store_session(out, records, key):
    """Verify one session's records and write it into directory `out`; returns the sidecar."""
    result = sessions.verify_stream(records, key)
    info = result.sessions[0] if result.sessions else None
    name = info.session_id if info else "session-%d" % int(time.time() * 1000)
    meta = {"verified": result.ok, "failure": str(result.failure) if result.failure else None}
    if info:
        meta.update(device_id=info.device_id, counter=info.counter, wake_word=info.wake_word,
                    consent=info.consent, start_ms=info.start_ms, bytes=info.nbytes,
                    end=info.reason)
    keep_audio = result.ok and info is not None and "retain" in info.consent
    if keep_audio:
        pcm = b"".join(sessions.parse_record(r).pcm for r in records
                       if r[:1] == bytes([sessions.CHUNK]))
        with wave.open(str(out / (name + ".wav")), "wb") as w:
            w.setnchannels(1)
            w.setsampwidth(2)
            w.setframerate(sessions.SAMPLE_RATE)
            w.writeframes(pcm)
    meta["audio"] = (name + ".wav") if keep_audio else None
    side = out / (name + ".json")
    side.write_text(json.dumps(meta, indent=1))
    return side
