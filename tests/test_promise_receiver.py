"""What the receiving side promises (privacy contract points 4, 5 and 6), each checked for the
promise itself: a counter that did not go UP is a replay (equal included), a compacted log still
compares the heads a host pinned, what a receiver remembers is the HIGHEST counter, and the
bridge sends a session only to a pipeline whose every declared use its consent allows (each use
alone, human_review included). Host code only: fast, so the mutation campaign (docs/mutation.md)
runs them against every mutant of these modules."""

import hashlib
import json
import random

import pytest

from host_tools.bridge import pipelines
from host_tools.records import sessions
from host_tools.records.history import History
from host_tools.records.translog import verify_log
from host_tools.security import tamper

KEY = tamper.KEY
DEVICE = tamper.DEVICE


def chained(n, first_counter=1, counters=None, seed=5):
    """n sessions of one device, each header chained to the one before, as a board sends them;
    `counters` overrides the counter of each (to make one that did not increase)."""
    rng = random.Random(seed)
    signer = sessions.Signer(KEY, DEVICE)
    out = []
    for i in range(n):
        c = counters[i] if counters else first_counter + i
        recs = [signer.open(rng.randbytes(8), c, "alexa", 1, 1000 * i)]
        recs += [signer.chunk_record(rng.randbytes(320)) for _ in range(2)]
        recs.append(signer.close("speech_end"))
        out.append(recs)
    return out


def received(counter):
    """What verify_stream reports for a verified header with this counter (tag: the counter)."""
    return sessions.SessionInfo(device_id=DEVICE, session_id="%016x" % counter, counter=counter,
                                wake_word="alexa", flags=1, start_ms=0, tag="%064x" % counter)


def flat(groups):
    return [r for g in groups for r in g]


# -- point 4: a counter equal to the last is a replay -------------------------------------------

def test_receiver_refuses_a_counter_equal_to_the_last():
    # In one stream: the second session reuses the first one's counter (a fresh session id,
    # correctly chained and signed: only the counter is wrong).
    groups = chained(2, counters=[7, 7])
    result = sessions.verify_stream(flat(groups), KEY)
    assert not result.ok and result.failure.reason == "replayed", result.failure
    assert "counter 7 not above 7" in str(result.failure)
    # Against what the receiver already accepted (last_counters), and a control: one above.
    for counter, ok in ((6, False), (7, False), (8, True)):
        one = chained(1, counters=[counter])
        r = sessions.verify_stream(flat(one), KEY, last_counters={DEVICE: 7})
        assert r.ok is ok, (counter, r.failure)
        if not ok:
            assert r.failure.reason == "replayed"


def test_receiver_refuses_a_counter_equal_to_the_highest_it_remembers_across_runs():
    h = History()
    first = chained(3, first_counter=5)  # counters 5, 6, 7
    r = sessions.verify_stream(flat(first), KEY, history=h, source="capture 1")
    assert r.ok, r.failure
    h.commit(r.headers, "capture 1")
    # Another session with counter 7 (not the one received: another id, another tag).
    again = chained(1, counters=[7], seed=99)
    r = sessions.verify_stream(flat(again), KEY, history=h, source="capture 2")
    assert not r.ok and r.failure.reason == "replayed", r.failure


# -- the receiver's history: the highest counter -------------------------------------------------

def test_history_returns_the_maximum_counter():
    h = History()
    for c in (9, 3, 12, 5):
        h.commit([received(c)], "capture")
    assert h.max_counter(DEVICE) == 12
    assert h.max_counter("another") is None
    # What the highest remembered counter is for: a session below it, never seen before (it
    # was never received, so nothing about it is in the history), is still refused.
    old = chained(1, counters=[10], seed=3)
    r = sessions.verify_stream(flat(old), KEY, history=h, source="capture 2")
    assert not r.ok and r.failure.reason == "replayed" and "not above 12" in str(r.failure)


def test_history_remembers_the_previous_session_below_a_counter():
    h = History()
    for c in (2, 9, 4):
        h.commit([received(c)], "capture")
    assert h.previous(DEVICE, 9)["tag"] == "%064x" % 4
    assert h.previous(DEVICE, 4)["tag"] == "%064x" % 2
    assert h.previous(DEVICE, 2) is None


# -- point 6: pinned heads are compared on a compacted log too -----------------------------------

def _entry(prev, seq, kind="mute", fields=None):
    body = json.dumps({"seq": seq, "t": seq * 10, "k": kind,
                       "f": fields or {"muted": True, "source": "button"}}).encode()
    digest = hashlib.sha256(prev + body).digest()
    return digest, digest.hex().encode() + b" " + body + b"\n"


def compacted_log(anchor_seq=40, n=10, counter=9, rewrite_at=None):
    """A log whose oldest entries were dropped: anchor line, then n entries chained from it.
    With `rewrite_at`, the entry of that seq has other content (and everything after it is
    re-chained, so the log is internally consistent: only a pin can tell)."""
    prev = hashlib.sha256(b"anchor").digest()
    out = b"A %d %s %d %s\n" % (anchor_seq, prev.hex().encode(), counter, b"ab" * 32)
    for seq in range(anchor_seq + 1, anchor_seq + 1 + n):
        fields = {"muted": seq != rewrite_at, "source": "button"}
        prev, line = _entry(prev, seq, fields=fields)
        out += line
    return out


def test_compacted_log_still_compares_pinned_heads():
    good = verify_log(compacted_log())
    assert good.ok and good.anchor is not None
    pins = [(e.seq, e.hash) for e in good.entries]
    rewritten = compacted_log(rewrite_at=45)
    res = verify_log(rewritten)
    assert res.ok, res.error  # internally consistent: without pins nothing shows
    for seq, h in pins:
        res = verify_log(rewritten, pins=[(seq, h)])
        if seq < 45:
            assert res.ok, (seq, res.error)  # untouched entries still match their pins
        else:
            assert res.error and "rewritten" in res.error, (seq, res.error)
    # The pin at the anchor itself, and a pin beyond the head (rolled back).
    assert verify_log(rewritten, pins=[(40, "00" * 32)]).error.startswith("anchor 40 differs")
    assert "rolled back" in verify_log(rewritten, pins=[(99, "00" * 32)]).error


def test_the_log_anchor_keeps_the_highest_session_counter():
    res = verify_log(compacted_log(counter=1234))
    assert res.ok and res.anchor_counter == 1234


# -- point 5: the bridge honours every declared use, each on its own -----------------------------

@pytest.mark.parametrize("use", pipelines.USES)
def test_a_pipeline_receives_a_session_only_if_its_consent_allows_every_declared_use(use):
    only = pipelines.Pipeline("p", "tcp://127.0.0.1:10700", frozenset([use]))
    others = [u for u in pipelines.USES if u != use]
    assert only.refusal([use]) is None
    assert only.refusal(list(pipelines.USES)) is None
    why = only.refusal(others)  # everything but this use
    assert why and "(%s)" % use in why
    assert only.refusal([]) is not None
    nothing = pipelines.Pipeline("n", "tcp://127.0.0.1:10701", frozenset())
    assert nothing.refusal([]) is None


def test_human_review_is_honoured_by_the_bridge_for_a_pipeline_that_declares_only_it(tmp_path):
    toml = tmp_path / "pipelines.toml"
    toml.write_text('[pipelines.review]\nlisten = "tcp://127.0.0.1:10700"\ncloud = false\n'
                    'human_review = true\nretain = false\ntraining = false\n')
    (review,) = pipelines.load(toml)
    assert review.uses == frozenset(["human_review"])
    # assistant (cloud) and history (cloud, retain): people may not listen.
    for consent in (["cloud"], ["cloud", "retain"], ["cloud", "retain", "training"]):
        why = review.refusal(consent)
        assert why and "lets people listen to it (human_review)" in why, consent
    assert review.refusal(["cloud", "human_review", "retain", "training", "preroll"]) is None


def test_forwarding_needs_cloud_consent_on_a_pipeline_that_leaves_the_home():
    (ha,) = pipelines.single("tcp://127.0.0.1:10700", None)  # the default: cloud
    assert ha.uses == frozenset(["cloud"])
    for consent in ([], ["retain"], ["human_review", "retain", "training", "preroll"]):
        why = ha.refusal(consent)
        assert why and "(cloud)" in why, consent
    assert ha.refusal(["cloud"]) is None


# -- the bridge: who can receive a pipeline's audio, and what the household is told ------------

def test_a_pipeline_that_anyone_on_the_network_could_reach_needs_an_allowed_address():
    """Wyoming has no password: whoever connects gets the audio. A pipeline listening beyond
    loopback is refused unless the household names Home Assistant's address; a connection is
    accepted from loopback or from exactly that address."""
    from host_tools.errors import EarshotError

    def p(uri):
        return pipelines.Pipeline("kitchen", uri, frozenset(["cloud"]))

    for uri in ("tcp://0.0.0.0:10700", "tcp://192.168.1.5:10700", "tcp://example.org:1"):
        with pytest.raises(EarshotError, match="any device on the network"):
            pipelines.check_allowed([p(uri)], [])
        pipelines.check_allowed([p(uri)], ["192.168.1.10"])  # named: allowed
    for uri in ("tcp://127.0.0.1:10700", "tcp://localhost:10700", "tcp://[::1]:10700",
                "unix:///tmp/x.sock"):
        pipelines.check_allowed([p(uri)], [])  # this computer only
    with pytest.raises(EarshotError, match="--allow nope"):
        pipelines.check_allowed([p("tcp://127.0.0.1:1")], ["nope"])
    assert pipelines.allowed("127.0.0.1", []) and pipelines.allowed("::1", [])
    assert pipelines.allowed("localhost", [])
    assert pipelines.allowed("192.168.1.10", ["192.168.1.10"])
    assert not pipelines.allowed("192.168.1.11", ["192.168.1.10"])
    assert not pipelines.allowed("192.168.1.10", [])


def test_a_pipeline_address_is_a_wyoming_address_or_refused():
    from host_tools.errors import EarshotError

    for good in ("tcp://127.0.0.1:10700", "unix:///run/ha.sock"):
        assert pipelines.check_uri(good, "--wyoming") == good
    for bad in ("tcp://127.0.0.1", "tcp://:10700", "http://127.0.0.1:10700", "unix://",
                "127.0.0.1:10700"):
        with pytest.raises(EarshotError, match="not a Wyoming address"):
            pipelines.check_uri(bad, "--wyoming")


def test_declared_uses_are_parsed_exactly_and_shown_truthfully():
    from host_tools.errors import EarshotError

    assert pipelines.parse_uses("none") == frozenset()
    assert pipelines.parse_uses(" cloud , retain ") == frozenset(["cloud", "retain"])
    for bad, says in (("", "nothing given"), (None, "nothing given"), ("cloud,sell", "unknown use 'sell'"),
                      ("sell,cloud", "unknown use 'sell'"), ("none,cloud", "unknown use 'none'")):
        with pytest.raises(EarshotError, match=says):
            pipelines.parse_uses(bad)
    (single,) = pipelines.single("tcp://127.0.0.1:10700", "human_review")
    assert single.uses == frozenset(["human_review"])
    shown = single.describe()
    assert shown.startswith("pipeline 'home-assistant' on tcp://127.0.0.1:10700 (")
    words = dict(pipelines._WORDS)
    for use in pipelines.USES:
        assert "%s: %s" % (words[use], "yes" if use == "human_review" else "no") in shown
    why = single.refusal([])
    assert why.endswith("which this session's consent (nothing) does not allow")
    assert single.refusal(["cloud"]).endswith("consent (cloud) does not allow")


# -- what the host reports is what the board said (point 9) --------------------------------------

def test_every_end_reason_the_board_writes_is_read_back_as_the_same_word(tmp_path):
    """A session cut by a mute, by withdrawn consent or by an error is reported as such, never
    as another reason: the firmware's table, signed on the board, read by the host."""
    from tests.mpy import run_mpy

    out = run_mpy(
        "import binascii, json\n"
        "from earshot.session import SessionSigner, REASONS\n"
        "out = {}\n"
        "for i, name in enumerate(sorted(REASONS)):\n"
        "    s = SessionSigner(binascii.unhexlify(%r), 'dev')\n"
        "    h = s.open(bytes(8), i + 1, 'ptt', 1, 0)\n"
        "    _, tag = s.chunk(bytes(64))\n"
        "    c = bytes(s.prefix) + bytes(64) + tag\n"
        "    out[name] = [binascii.hexlify(bytes(x)).decode() for x in (h, c, s.close(name))]\n"
        "print(json.dumps(out))\n" % KEY.hex())
    signed = json.loads(out)
    assert set(signed) == set(sessions.REASONS.values())
    for name, recs in signed.items():
        r = sessions.verify_stream([bytes.fromhex(x) for x in recs], KEY)
        assert r.ok, (name, r.failure)
        assert r.sessions[0].reason == name


def test_a_replayed_header_is_reported_with_its_own_session_number():
    groups = chained(2)
    recs = flat(groups) + [groups[0][0]]  # the first header again, as a third session
    r = sessions.verify_stream(recs, KEY)
    assert r.failure.reason == "replayed" and r.failure.where == "header"
    assert r.failure.session == 3, str(r.failure)
    again = flat(groups) + [groups[1][1]]  # a chunk again: still in session 2
    r = sessions.verify_stream(again, KEY)
    assert r.failure.reason == "replayed" and r.failure.session == 2, str(r.failure)


def test_unreadable_files_are_one_line_errors_that_say_why(tmp_path):
    from host_tools.errors import EarshotError

    with pytest.raises(sessions.CaptureError, match="cannot read .*: No such file or directory$"):
        sessions.read_capture(tmp_path / "missing.cap")
    (tmp_path / "file").write_text("x")
    h = History(tmp_path / "file" / "history.json")
    h.commit([received(1)], "capture")
    with pytest.raises(EarshotError, match="cannot write receiver history .*: File exists$"):
        h.save()


def test_a_log_is_read_exactly_what_it_is_and_no_more():
    # Empty: nothing verified, the genesis head; a whole log: nothing torn.
    empty = verify_log(b"")
    assert empty.ok and empty.head == (-1, "0" * 64) and empty.torn_bytes == 0
    whole = compacted_log()
    res = verify_log(whole)
    assert res.ok and res.torn_bytes == 0 and len(res.entries) == 10
    assert verify_log(whole + b"abc").torn_bytes == 3
    # An anchor whose tag is not hex is malformed, like one whose hash is not.
    first, rest = whole.split(b"\n", 1)
    parts = first.split(b" ")
    bad_tag = b" ".join(parts[:4] + [b"zz" * 32]) + b"\n" + rest
    assert verify_log(bad_tag).error == "line 1: malformed anchor"
    # A line that is not an entry stops the reading there, with its line number.
    lines = whole.split(b"\n")
    res = verify_log(b"\n".join(lines[:3] + [b"not an entry"] + lines[3:]))
    assert res is not None and res.error == "line 4: not a log entry"
    assert [e.seq for e in res.entries] == [41, 42]
