"""Tampering with what a receiver gets: each class of attack on captures and on the
transparency log, applied at random and checked to be detected, every trial.

Sessions are signed by records.sessions.Signer, which tests/test_session_signing.py proves
byte-identical to the firmware's signer; logs are written in the firmware's format (checked
against firmware/earshot/translog.py in tests/test_translog.py). A receiver keeps its history
(records/history.py) between captures, as `earshot verify`/`record`/`log` do.
"""

import hashlib
import json
import random

from ..records import sessions
from ..records.history import History
from ..records.translog import verify_log
from . import DETECTED, judge

KEY = bytes(range(32))
OTHER_KEY = bytes(range(1, 33))
DEVICE = "tamper-1"


def _sessions(rng, n, first_counter=1, prev=sessions.ZERO_TAG, key=KEY):
    """n chained sessions of 1-6 chunks, as a board sends them: a list of record lists."""
    signer = sessions.Signer(key, DEVICE)
    signer.last_header_tag = prev
    out = []
    for i in range(n):
        recs = [signer.open(rng.randbytes(8), first_counter + i, "alexa", 1, 1000 * i)]
        recs += [signer.chunk_record(rng.randbytes(rng.choice((64, 320, 3200))))
                 for _ in range(rng.randint(1, 6))]
        recs.append(signer.close("speech_end"))
        out.append(recs)
    return out, signer.last_header_tag


def _flat(groups):
    return [r for g in groups for r in g]


def _verify(records, history=None, source="capture"):
    return sessions.verify_stream(records, KEY, history=history, source=source)


def _receiver_with(records, source="capture 1"):
    """A history that has received `records` (one earlier capture)."""
    h = History()
    h.commit(_verify(records, h, source).headers, source)
    return h


# Each class: rng -> True if the tampering was detected.

def modify(rng):
    groups, _ = _sessions(rng, 3)
    recs = _flat(groups)
    i = rng.randrange(len(recs))
    r = bytearray(recs[i])
    r[rng.randrange(len(r))] ^= 1 << rng.randrange(8)
    recs[i] = bytes(r)
    return not _verify(recs).ok


def reorder(rng):
    groups, _ = _sessions(rng, 3)
    g = rng.choice([g for g in groups if len(g) > 3] or [groups[0]])
    if len(g) <= 3:
        g.insert(2, g[1])  # too few chunks to swap: make it a replay instead (still detected)
    else:
        i = rng.randrange(1, len(g) - 2)
        g[i], g[i + 1] = g[i + 1], g[i]
    return not _verify(_flat(groups)).ok


def drop_inside(rng):
    groups, _ = _sessions(rng, 3)
    g = rng.choice(groups)
    del g[rng.randrange(len(g))]  # a header, a chunk or a close
    return not _verify(_flat(groups)).ok


def drop_session(rng):
    groups, _ = _sessions(rng, 4)
    del groups[rng.randrange(1, len(groups) - 1)]  # from the middle: the next one chains on it
    return _verify(_flat(groups)).failure.reason == "dropped"


def drop_last_session(rng):
    groups, tag = _sessions(rng, 3)
    history = _receiver_with(_flat(groups[:-1]))  # capture 1 lost its last session
    later, _ = _sessions(rng, 2, first_counter=4, prev=tag)
    return _verify(_flat(later), history, "capture 2").failure.reason == "dropped"


def replay_within(rng):
    groups, _ = _sessions(rng, 3)
    recs = _flat(groups)
    if rng.random() < 0.5:
        recs += rng.choice(groups)  # a whole session again
    else:
        i = rng.randrange(len(recs))
        recs.insert(rng.randrange(i, len(recs) + 1), recs[i])  # one record again
    return not _verify(recs).ok


def replay_across(rng):
    groups, tag = _sessions(rng, 3)
    history = _receiver_with(_flat(groups))
    later, _ = _sessions(rng, 2, first_counter=4, prev=tag)
    stolen = rng.choice(groups)
    pos = rng.randrange(len(later) + 1)
    capture2 = _flat(later[:pos] + [stolen] + later[pos:])
    return _verify(capture2, history, "capture 2").failure.reason == "replayed"


def forge(rng):
    groups, tag = _sessions(rng, 2)
    fake, _ = _sessions(rng, 1, first_counter=3, prev=tag, key=OTHER_KEY)
    recs = _flat(groups + fake)
    return _verify(recs).failure.reason in ("forged", "modified")


def truncate(rng):
    groups, _ = _sessions(rng, 3)
    k = rng.randrange(len(groups))
    g = groups[k]
    cut = g[: rng.randrange(1, len(g))]  # the header and some chunks; never the close
    result = _verify(_flat(groups[:k]) + cut)
    return result.failure is not None and result.failure.reason == "truncated"


def _log(entries):
    """Transparency log bytes in the firmware's format for (kind, fields) entries."""
    prev, lines = bytes(32), []
    for seq, (kind, fields) in enumerate(entries):
        body = json.dumps({"seq": seq, "t": seq * 20, "k": kind, "f": fields}).encode()
        prev = hashlib.sha256(prev + body).digest()
        lines.append(prev.hex().encode() + b" " + body + b"\n")
    return b"".join(lines)


def rollback_log(rng):
    n = rng.randint(4, 40)
    entries = [("mute", {"muted": bool(i % 2), "source": "button"}) for i in range(n)]
    history = History()
    seen = verify_log(_log(entries))  # what `earshot log` verified and remembered last time
    history.set_log_head(DEVICE, seen.head)
    if rng.random() < 0.5:
        shown = _log(entries[: rng.randint(1, n - 1)])  # rolled back to an older state
    else:  # rewritten: an entry changed (a session removed, a consent change hidden), re-chained
        k = rng.randrange(n)
        entries[k] = ("mute", {"muted": not entries[k][1]["muted"], "source": "button"})
        shown = _log(entries)
    return not verify_log(shown, pins=[history.log_head(DEVICE)]).ok


CLASSES = {
    "modify": modify, "reorder": reorder, "drop inside a capture": drop_inside,
    "drop a whole session": drop_session, "drop the last session (next capture)":
        drop_last_session, "replay within a capture": replay_within,
    "replay across captures": replay_across, "forge": forge, "truncate": truncate,
    "rollback of the log": rollback_log,
}


def campaign(trials, seed=1):
    """One Outcome per class: DETECTED if every trial was caught."""
    out = []
    for name, attack in CLASSES.items():
        rng = random.Random("%s-%s" % (seed, name))
        caught = sum(1 for _ in range(trials) if attack(rng))
        out.append(judge("6", "tamper: " + name, caught == trials,
                         {"trials": trials, "detected": "%d of %d" % (caught, trials)},
                         how=DETECTED))
    return out
