"""A session judged while it arrives (records.live): only what verifies so far is passed on."""

from host_tools.records import sessions
from host_tools.records.live import LiveSession

KEY = bytes(range(32))
PCM = [bytes([i]) * 3200 for i in range(4)]


def signed(counter=7, flags=1, chunks=PCM):
    return sessions.sign_session(KEY, "dev", bytes(8), counter, chunks, wake_word="alexa",
                                 flags=flags)


def feed(live, records):
    out = []
    for r in records:
        out += live.feed(r)
    return out


def test_a_good_session_opens_passes_each_chunk_and_closes():
    facts = feed(LiveSession(KEY), signed())
    assert [k for k, _ in facts] == ["open", "audio", "audio", "audio", "audio", "closed"]
    assert facts[0][1]["consent"] == ["cloud"] and facts[0][1]["verified"]
    assert b"".join(d for k, d in facts if k == "audio") == b"".join(PCM)
    assert facts[-1][1]["counter"] == 7 and facts[-1][1]["end"] == "speech_end"


def test_a_modified_chunk_ends_the_stream_and_nothing_after_it_passes():
    recs = signed()
    recs[3] = recs[3][:10] + bytes([recs[3][10] ^ 1]) + recs[3][11:]  # chunk 2's PCM
    facts = feed(LiveSession(KEY), recs)
    assert [k for k, _ in facts] == ["open", "audio", "audio", "broken"]
    assert "chunk 2: modified" in facts[-1][1]


def test_a_dropped_chunk_and_a_replayed_session_are_refused():
    recs = signed()
    facts = feed(LiveSession(KEY), recs[:2] + recs[3:])
    assert facts[-1][0] == "broken" and "dropped" in facts[-1][1]
    live = LiveSession(KEY)
    feed(live, recs)
    again = feed(live, recs)  # the same session sent again: its counter is not above 7
    assert again == [("refused", again[0][1])] and "replayed" in again[0][1]


def test_another_keys_session_is_never_opened():
    recs = sessions.sign_session(bytes(32), "dev", bytes(8), 1, PCM)
    facts = feed(LiveSession(KEY), recs)
    assert facts[0][0] == "refused" and "forged" in facts[0][1]


def test_without_a_key_the_header_is_shown_unverified_and_no_audio_passes():
    facts = feed(LiveSession(None), signed())
    assert [k for k, _ in facts] == ["open", "closed"]
    assert facts[0][1]["verified"] is False


def test_with_the_receiver_history_a_replay_after_a_restart_and_a_gap_are_never_opened(tmp_path):
    from host_tools.records.history import History

    path = tmp_path / "history.json"
    chain, prev = [], sessions.ZERO_TAG
    for counter in (1, 2, 3):  # the board's sessions, each header chained to the one before
        chain.append(sessions.sign_session(KEY, "dev", bytes([counter]) * 8, counter, PCM,
                                           wake_word="alexa", flags=1, prev=prev))
        prev = chain[-1][0][-32:]
    first, second, third = chain
    before = LiveSession(KEY, history=History.load(path), source="run 1")
    assert feed(before, first)[-1][0] == "closed"
    before.history.save()
    after = LiveSession(KEY, history=History.load(path), source="run 2")  # a restart
    again = feed(after, first)  # sent again on the line
    assert again == [("refused", again[0][1])] and "replayed" in again[0][1]
    assert "session 0101010101010101 not passed on: header: replayed" in again[0][1]
    gap = feed(after, third)  # chains to a header this receiver never saw
    assert gap == [("refused", gap[0][1])] and "dropped" in gap[0][1]
    late = feed(after, second)  # the missing one, arriving late: old audio, never passed on
    assert late[0][0] == "refused" and "replayed" in late[0][1]
