"""A session verified while it arrives: what a host may pass on before the close record is in.

`verify_stream` (sessions.py) judges a finished stream. A receiver that forwards audio as it
comes (the Wyoming bridge, the dashboard's "streaming now") needs the same judgement on what
has arrived so far: every record up to now verifies, and a missing close is not yet a fault.
LiveSession asks verify_stream exactly that after each record, so whatever the verifier checks
(tags, order, replays, counters) applies here unchanged; a session holds at most ~105 records,
so re-verifying the prefix costs a few milliseconds.

    live = LiveSession(key, history=History.load(), source="...")
    for record in records_from_the_board:
        for kind, data in live.feed(record):      # ("open", info) ("audio", pcm)
            ...                                   # ("closed", info) ("broken", reason)
                                                  # ("refused", reason): never opened
    history.save()                                # when live.remembered says so

With a receiver history (records/history.py, the one `earshot record/verify/log` keep), what
was received before this process started counts too: a session replayed on the line after a
restart, or one whose header does not chain to the last one this receiver saw (a session went
missing, or this one is from another chain), is never opened. A live receiver passes audio on
as new, so it is stricter than `earshot verify`: a header whose counter is not above every
counter this receiver has seen for the device is a replay, even the late arrival of a session
reported missing (`verify` accepts that one into an old capture's place). Every header that
verifies is committed to the history, a refused one too when what is wrong is a session missing
before it (as verify_stream does), so the chain continues from it.
"""

from . import sessions


def _kind(record):
    try:
        return type(sessions.parse_record(record))
    except sessions.RecordError:
        return None


class LiveSession:
    """Feeds a board's session records one at a time; says what may be passed on."""

    def __init__(self, key, counters=None, history=None, source=None):
        self.key = bytes(key) if key is not None else None
        self.counters = {} if counters is None else counters  # kept across sessions
        self.history = history  # records.history.History, or None: this process only
        self.source = source  # what the history calls this receiver's sessions
        self.remembered = False  # the history changed: the caller saves it
        self.records = []  # the open session's records, header first
        self.info = None  # the open session's header, once verified (dict)
        self.broken = False  # the open session failed: nothing more of it is passed on

    def feed(self, record):
        """One record's consequences, as a list of (kind, data)."""
        record = bytes(record)
        kind = _kind(record)
        if kind is sessions.Header:
            out = []
            if self.info is not None and not self.broken:
                out.append(("broken", "header: truncated (a new session began before the "
                                      "close of session %s)" % self.info["session_id"]))
            self.records, self.info, self.broken = [record], None, False
            return out + self._check(opening=True)
        if not self.records:
            return []  # the middle of a session we did not see begin: nothing to vouch for
        if self.broken:
            return []
        self.records.append(record)
        return self._check(closing=kind is sessions.Close, record=record)

    def abandon(self, why):
        """The board will not finish the open session (it reset, the port went away)."""
        out = [("broken", why)] if self.records and not self.broken else []
        self.records, self.info, self.broken = [], None, False
        return out

    def _check(self, opening=False, closing=False, record=None):
        if self.key is None:
            return self._unverified(opening, closing, record)
        trial = dict(self.counters)
        result = sessions.verify_stream(self.records, self.key, trial, history=self.history,
                                        source=self.source)
        failure = result.failure
        if opening and result.headers and (failure is None or failure.reason == "truncated"):
            failure = self._not_new(result.headers[0]) or failure
        if opening or closing:
            if failure is None or failure.reason in ("truncated", "dropped"):
                self._remember(result.headers)  # the header is the board's, and new
        if failure is not None and not (failure.reason == "truncated" and not closing and
                                        failure.session == 1):
            self.broken = True
            self.info = None
            if opening:  # never opened: nothing of it is passed on
                return [("refused", _named(failure, self.records[0]))]
            return [("broken", str(failure))]
        if opening:
            self.info = _header_info(self.records[0], verified=True)
            return [("open", dict(self.info))]
        if closing:
            self.counters.update(trial)  # the session is accepted: replays of it now fail
            info = dict(self.info, **_close_info(result.sessions[0]))
            self.records, self.info = [], None
            return [("closed", info)]
        return [("audio", sessions.parse_record(record).pcm)]

    def _remember(self, headers):
        if self.history is not None and headers:
            self.history.commit(headers, self.source)
            self.remembered = True

    def _not_new(self, header):
        """A verified header is new only if its counter is above every counter this receiver
        has seen for its device (before it is remembered): what is passed on live is never
        audio that left the board before."""
        dev = header.device_id
        seen = [c for c in (self.counters.get(dev), self.history.max_counter(dev)
                            if self.history is not None else None) if c is not None]
        if seen and header.counter <= max(seen):
            return sessions.Failure("replayed", "header", 1, header.counter,
                                    "counter %d not above %d, the highest this receiver has "
                                    "seen" % (header.counter, max(seen)))
        return None

    def _unverified(self, opening, closing, record):
        # No key: the dashboard still shows what the header claims, marked as unverified;
        # no audio is ever passed on unverified.
        if opening:
            self.info = _header_info(self.records[0], verified=False)
            return [("open", dict(self.info))]
        if closing and self.info is not None:
            close = sessions.parse_record(record)
            info = dict(self.info, chunks=close.count, bytes=close.nbytes,
                        ms=close.nbytes // sessions.BYTES_PER_MS,
                        end=sessions.REASONS.get(close.reason, "?"))
            self.records, self.info = [], None
            return [("closed", info)]
        return []


def _named(failure, header_record):
    """A session refused at its header, named as a refusal is (by its session id)."""
    try:
        h = sessions.parse_record(header_record)
        return "session %s not passed on: %s" % (h.session_id.hex(), failure)
    except sessions.RecordError:
        return "a session not passed on: %s" % failure


def _header_info(record, verified):
    h = sessions.parse_record(record)
    return {"session_id": h.session_id.hex(), "counter": h.counter, "device_id": h.device_id,
            "wake_word": h.wake_word, "flags": h.flags, "consent": sessions.flag_names(h.flags),
            "test": bool(h.flags & sessions.TEST_FLAG), "start_ms": h.start_ms,
            "verified": verified}


def _close_info(s):
    return {"chunks": s.chunks, "bytes": s.nbytes, "ms": s.duration_ms, "end": s.reason,
            "digest": s.digest}
