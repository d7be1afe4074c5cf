# Signed sessions: every streamed utterance is a header, numbered chunks and a close record,
# each authenticated with HMAC-SHA256 under the key provisioned at flash time, chained
# header -> chunk 0 -> chunk 1 -> ... -> close, so a receiver detects a modified, reordered,
# dropped, replayed, forged or truncated session (docs/privacy-contract.md, point 4).
#
# The exact bytes are in docs/sessions.md; host_tools/records/sessions.py is the receiver. Sizes:
#   header  'H' ver sid[8] counter:u32 start_ms:u64 flags:u8 prev[32] n dev[n] m wake[m] tag[32]
#           tag = HMAC(K, header bytes before the tag); prev = the tag of the header this device
#           sent before (32 zero bytes for its first), so sessions form one chain per device and
#           a receiver sees a whole session missing; flags bit 7 (TEST_FLAG) marks test mode
#   chunk   'C' index:u32 len:u16 pcm[len] tag[32]
#           tag_i = HMAC(K, tag_{i-1} | 'C' index len | pcm), tag_{-1} = header tag
#   gap     'G' index:u32 tag[32]
#           tag = HMAC(K, tag_{i-1} | 'G' index): audio the board lost (or left out) here, in
#           the chain like a chunk and numbered like one, so a receiver tells a gap the board
#           declared from a chunk dropped on the way (which leaves its index missing)
#   close   'E' count:u32 nbytes:u32 reason:u8 tag[32]
#           tag = HMAC(K, last tag | 'E' count nbytes reason)
# All integers big-endian. The header tag covers device id, session id and counter, and every
# later tag is chained on it, so a chunk from another session never verifies in this one.

import struct

from micropython import const

from earshot.hmac256 import HMAC256

VERSION = const(2)  # 2: the header carries `prev` (1 had none)
TAG_SIZE = const(32)
TEST_FLAG = const(0x80)  # flags bit 7: test mode, the audio may be the host's (`feed`)
SESSION_ID_SIZE = const(8)
CHUNK_PREFIX_SIZE = const(7)
MAX_NAME = const(64)
MAX_CHUNK = const(65535)

# Close reasons (docs/privacy-contract.md, point 7). Codes are on the wire; names are for people.
REASONS = {
    "speech_end": 1,
    "max_length": 2,
    "mute": 3,
    "host_stop": 4,
    "consent": 5,
    "error": 6,
    "host_slow": 7,  # the host stopped reading: the rest never left (the receiver sees it cut)
}


def _name(value, what):
    if isinstance(value, str):
        value = value.encode()
    if len(value) > MAX_NAME:
        raise ValueError("%s longer than %d bytes" % (what, MAX_NAME))
    return bytes(value)


class SessionSigner:
    """Signs one session at a time for one device.

    signer = SessionSigner(key, "earshot-1a2b")
    hdr = signer.open(session_id, counter, "hey_earshot", flags, start_ms, prev)  # send hdr
    index, tag = signer.chunk(pcm)        # send signer.prefix, pcm, tag (= one chunk record)
    rec = signer.close("speech_end")      # send rec; signer.digest is the log's digest
    """

    def __init__(self, key, device_id):
        if len(key) < 16:
            raise ValueError("signing key shorter than 16 bytes")
        self._mac = HMAC256(key)
        self._dev = _name(device_id, "device id")
        if not self._dev:
            raise ValueError("empty device id")
        # The 7-byte prefix of the last chunk record ('C' index len), filled in place.
        self.prefix = bytearray(CHUNK_PREFIX_SIZE)
        self.prefix[0] = 0x43  # 'C'
        self._tag = None  # previous tag while a session is open
        self._last_counter = -1
        self.index = 0  # chunks signed in the open session
        self.nbytes = 0  # PCM bytes signed in the open session
        self.counter = None
        self.digest = None  # close tag of the last closed session

    def open(self, session_id, counter, wake_word, consent_flags, start_ms, prev=bytes(32)):
        """Start a session; return the header record (bytes, tag included).

        session_id: 8 bytes (e.g. hw.urandom(8)); counter: the persisted monotonic counter
        (store.next_counter), strictly increasing per device; wake_word: name of the detector
        that fired, or "ptt" for push-to-talk; consent_flags: consent bit flags (consent.py);
        start_ms: board time in ms when the utterance started (pre-roll included);
        prev: the tag of this device's previous header (TransparencyLog.last_tag()).
        """
        if self._tag is not None:
            raise ValueError("session already open")
        if len(session_id) != SESSION_ID_SIZE:
            raise ValueError("session id must be %d bytes" % SESSION_ID_SIZE)
        if counter <= self._last_counter or counter > 0xFFFFFFFF:
            raise ValueError("counter must increase")
        if len(prev) != TAG_SIZE:
            raise ValueError("prev must be a %d-byte tag" % TAG_SIZE)
        wake = _name(wake_word, "wake word")
        head = struct.pack(">BB", 0x48, VERSION) + bytes(session_id)
        head += struct.pack(">IQB", counter, start_ms, consent_flags & 0xFF) + bytes(prev)
        head += bytes((len(self._dev),)) + self._dev + bytes((len(wake),)) + wake
        tag = self._mac.mac(head)
        self._tag = tag
        self._last_counter = counter
        self.counter = counter
        self.index = 0
        self.nbytes = 0
        self.digest = None
        return head + tag

    def chunk(self, pcm):
        """Sign the next chunk of PCM; return (index, tag).

        The chunk record on the wire is signer.prefix + pcm + tag (7 + len(pcm) + 32 bytes).
        """
        if self._tag is None:
            raise ValueError("no open session")
        n = len(pcm)
        if n > MAX_CHUNK:
            raise ValueError("chunk longer than %d bytes" % MAX_CHUNK)
        index = self.index
        struct.pack_into(">IH", self.prefix, 1, index, n)
        tag = self._mac.mac(self._tag, self.prefix, pcm)
        self._tag = tag
        self.index = index + 1
        self.nbytes += n
        return index, tag

    def gap(self):
        """Declare audio missing before the next chunk; return the gap record (it takes one
        chunk index; close's count includes it, nbytes does not)."""
        if self._tag is None:
            raise ValueError("no open session")
        head = struct.pack(">BI", 0x47, self.index)  # 'G'
        tag = self._mac.mac(self._tag, head)
        self._tag = tag
        self.index += 1
        return head + tag

    def close(self, reason):
        """End the session; return the close record. reason: a REASONS name or code."""
        if self._tag is None:
            raise ValueError("no open session")
        code = REASONS.get(reason, reason) if isinstance(reason, str) else reason
        if not isinstance(code, int) or not 0 < code < 256:
            raise ValueError("unknown close reason %r" % (reason,))
        body = struct.pack(">BIIB", 0x45, self.index, self.nbytes, code)
        tag = self._mac.mac(self._tag, body)
        self._tag = None
        self.digest = tag
        return body + tag
