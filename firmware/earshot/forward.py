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
from earshot.stream import CHUNK_BYTES, Streamer

SAMPLE_RATE = const(16000)
BYTES_PER_MS = const(32)  # 16 kHz x 16-bit mono: 32 bytes of PCM per millisecond
_ZERO_TAG = bytes(32)


def pcm_ms(nbytes):
    """Milliseconds of 16 kHz int16 mono audio in nbytes of PCM."""
    return nbytes // BYTES_PER_MS


class Forwarder:
    def __init__(self, writer, log, counter_path, urandom):
        self._writer = writer
        self._log = log  # the transparency log (translog.TransparencyLog)
        self._counter_path = counter_path
        self._urandom = urandom
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
        """Log, then send a signed header (and, with `preroll` consent, the pre-wake ring).
        OSError (flash full or failing) means nothing was sent."""
        log = self._log
        counter = store.next_counter(self._counter_path, log.max_counter())
        if self.streamer is None:
            self.streamer = Streamer(self.signer, self._writer)
        preroll = consent.allows_preroll()
        start = now_ms - (pcm_ms(ring.filled) if preroll else 0)
        self.session_id = self._session_id(counter)
        self.wake = wake
        self.start_ms = start
        self.counter = counter
        self.flags = consent.flags
        self.test = test
        wire_flags = self.flags | (TEST_FLAG if test else 0)
        prev = log.last_tag() or _ZERO_TAG
        header = self.streamer.begin(self.session_id, counter, wake, wire_flags, start, prev)
        log.append("open", {
            "id": _hex(self.session_id), "counter": counter, "start": start,
            "consent": self.flags, "wake": wake, "test": test, "tag": _hex(header[-32:]),
        }, now_ms)
        self.streamer.send_header(header)
        if preroll:
            for chunk in ring.chunks(CHUNK_BYTES):
                self.streamer.add(chunk)
        ring.zero()

    def add(self, frame):
        self.streamer.add(frame)

    def close(self, reason, now_ms):
        """End the open session; log it; return its summary for the host."""
        s = self.streamer
        if reason == "mute":
            s.discard()  # what was not yet sent stays unsent
        digest = s.close(reason)
        nbytes = s.signer.nbytes
        self._log.session(now_ms, self.session_id, self.counter, self.start_ms, pcm_ms(nbytes),
                          nbytes, self.flags, digest, wake=self.wake, reason=reason,
                          test=self.test)
        return {"id": _hex(self.session_id), "end": reason, "bytes": nbytes,
                "ms": pcm_ms(nbytes), "counter": self.counter, "test": self.test}


def _hex(b):
    return binascii.hexlify(b).decode()
