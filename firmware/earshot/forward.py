# Forwarding: the one path by which audio leaves the board (privacy contract points 1, 4, 6, 7).
# A session is opened only under consent that allows streaming and with a signing key; it
# carries the consent flags in its signed header, its audio as signed chunks, and ends with a
# signed close record and an entry in the transparency log.
#
# Order when a session opens (docs/sessions.md "Sessions chain"): the counter is reserved and
# persisted, then the transparency log gets an `open` entry (with the header tag the next session
# will chain to), and only then does the header leave. So no audio ever leaves without a log
# entry, whatever cuts the board off afterwards; the next boot logs a session left open as
# `interrupted`.
import binascii
import hashlib

from micropython import const

from earshot import store
from earshot.session import SESSION_ID_SIZE, TEST_FLAG
from earshot.stream import Streamer

SAMPLE_RATE = const(16000)
BYTES_PER_MS = const(32)  # 16 kHz x 16-bit mono: 32 bytes of PCM per millisecond
_ZERO_TAG = bytes(32)


def pcm_ms(nbytes):
    """Milliseconds of 16 kHz int16 mono audio in nbytes of PCM."""
    return nbytes // BYTES_PER_MS


def _add(t, delta):
    return t + delta


class Forwarder:
    def __init__(self, writer, log, counter_path, urandom, ticks_add=_add):
        self._writer = writer
        self._log = log  # the transparency log (translog.TransparencyLog)
        self._counter_path = counter_path
        self._urandom = urandom
        self._ticks_add = ticks_add  # board times wrap (hw.ticks_add)
        self.streamer = None
        self.signer = None
        # The open (or last) session, for its log entry and the host's summary.
        self.session_id = b""
        self.wake = ""
        self.start_ms = 0
        self.counter = 0
        self.flags = 0  # consent flags in force for the open session (without TEST_FLAG)
        self.test = False

    def set_signer(self, signer):
        """A new key (provisioning): later sessions are signed with it."""
        self.signer = signer
        self.streamer = None

    def refusal(self, consent):
        """Why a session may not open now, or None."""
        if not consent.allows_streaming():
            return "consent does not allow streaming"
        if self.signer is None:
            return "not provisioned: run earshot provision"
        return None

    def _session_id(self, counter):
        # os.urandom on the ESP32-S3 is esp_random() (ports/esp32/modos.c), which ESP-IDF
        # documents as only pseudo-random while Wi-Fi/Bluetooth are off and the bootloader's
        # entropy source is disabled, as on this board. An id must never repeat for a device,
        # so the persisted, never-reused counter is hashed in: distinct even if the generator
        # repeated itself after a reset. Nothing here needs secrecy (keys come from the host).
        h = hashlib.sha256(b"earshot-session-id")
        h.update(self._urandom(16))
        h.update(counter.to_bytes(4, "big"))
        return h.digest()[:SESSION_ID_SIZE]

    def open(self, wake, now_ms, consent, ring, test=False):
        """Log, then send a signed header. The ring becomes the session's outgoing FIFO: with
        `preroll` consent the pre-wake audio in it goes first, otherwise it is zeroed here.
        OSError (flash full or failing) means nothing was sent."""
        log = self._log
        counter = store.next_counter(self._counter_path, log.max_counter())
        if self.streamer is None:
            self.streamer = Streamer(self.signer, self._writer)
        if not consent.allows_preroll():
            ring.zero()
        start = self._ticks_add(now_ms, -pcm_ms(ring.filled))
        self.session_id = self._session_id(counter)
        self.wake = wake
        self.start_ms = start
        self.counter = counter
        self.flags = consent.flags
        self.test = test
        wire_flags = self.flags | (TEST_FLAG if test else 0)
        prev = log.last_tag() or _ZERO_TAG
        header = self.streamer.begin(self.session_id, counter, wake, wire_flags, start, prev, ring)
        log.append("open", {
            "id": _hex(self.session_id), "counter": counter, "start": start,
            "consent": self.flags, "wake": wake, "test": test, "tag": _hex(header[-32:]),
        }, now_ms)
        self.streamer.send_header(header)

    def add(self, frame):
        """True if queueing it had to send a chunk at once (the line is not free this frame)."""
        return self.streamer.add(frame)

    def pump(self, may_send):
        """Each frame while open: send a chunk if one is ready and the loop is on time."""
        return self.streamer.pump(may_send)

    def gap(self, lost_samples):
        """The board lost audio (the loop fell behind the I2S DMA buffer): mark the session.
        (How much is counted by the app, for status `audio_lost_ms`.)"""
        self.streamer.gap()

    def flash_written(self):
        """A flash write happened while this session streams: mark where (see app.step)."""
        self.streamer.splice()

    def close(self, reason, now_ms):
        """End the open session; log it; return its summary for the host."""
        s = self.streamer
        if reason == "mute" or reason == "host_slow":
            s.discard()  # what was not yet sent stays unsent
        digest = s.close(reason)
        nbytes = s.signer.nbytes
        self._log.session(now_ms, self.session_id, self.counter, self.start_ms, pcm_ms(nbytes),
                          nbytes, self.flags, digest, wake=self.wake, reason=reason,
                          test=self.test)
        return {"id": _hex(self.session_id), "end": reason, "bytes": nbytes,
                "ms": pcm_ms(nbytes), "counter": self.counter, "test": self.test,
                "gaps": s.gaps}


def _hex(b):
    return binascii.hexlify(b).decode()
