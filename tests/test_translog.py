"""The transparency log (firmware/earshot/translog.py in MicroPython, records/translog.py):
hash-chained, bounded with its anchor kept, repaired after a torn append, and any quiet edit is
caught by the host (privacy contract point 6)."""

import json

from host_tools.records.translog import describe, read_log, render, verify_log
from tests.mpy import run_mpy

WRITE_SOME = (
    "from earshot.translog import TransparencyLog\n"
    "log = TransparencyLog(%r, %d)\n"
    "for i in range(%d):\n"
    "    if i %% 3 == 0:\n"
    "        log.mute(i * 10, i %% 2 == 0, 'button')\n"
    "    elif i %% 3 == 1:\n"
    "        log.consent(i * 10, {'old': 0, 'new': 1, 'source': 'host+button',"
    " 'preset': 'assistant', 'guest': False})\n"
    "    else:\n"
    "        log.session(i * 10, b'\\x01' * 8, i, i * 10 - 5, 2000, 64000, 5, b'\\xab' * 32,"
    " 'hey_earshot', 'speech_end')\n"
    "print(len(log), log.head(), log.anchor(), log.max_counter())\n"
)


def test_appended_entries_verify_on_the_host_and_survive_reopening(tmp_path):
    p = str(tmp_path / "log.txt")
    out = run_mpy(
        WRITE_SOME % (p, 100, 9)
        + "log2 = TransparencyLog(%r, 100)\n"
        "print(log2.head() == log.head(), len(log2), [e['k'] for e in log2.entries(6)])\n" % p
    )
    lines = out.splitlines()
    assert lines[1] == "True 9 ['mute', 'consent', 'session']"
    res = read_log(p)
    assert res.ok and res.anchor is None and len(res.entries) == 9
    assert lines[0].split()[2].strip("')") == res.head[1]  # same head on board and host
    s = res.entries[2]
    assert (s.kind, s.fields["counter"], s.fields["bytes"], s.fields["consent"]) == (
        "session", 2, 64000, 5)
    # One vocabulary: the board clock as the demo shows it, consent as preset (flags).
    assert describe(s).startswith("#2         0.02s  audio left the board: 2.0 s, 64000 bytes,"
                                  " consent history (cloud, retain), wake hey_earshot, ended "
                                  "speech_end")
    assert describe(res.entries[0]).endswith("microphone muted by button")
    assert "consent private (no flags) -> assistant (cloud), by host+button" in describe(
        res.entries[1])
    assert render(res).splitlines()[-1].startswith("chain verified: 9 entries, head #8")
    assert json.loads(render(res, as_json=True))["entries"][2]["fields"]["wake"] == "hey_earshot"


def test_a_full_log_drops_oldest_entries_and_keeps_the_chain_anchor(tmp_path):
    p = str(tmp_path / "log.txt")
    out = run_mpy(WRITE_SOME % (p, 16, 100))
    n = int(out.split()[0])
    assert 14 <= n <= 16
    res = read_log(p)
    assert res.ok, res.error
    assert res.anchor is not None and res.entries[0].seq == res.anchor[0] + 1
    assert res.head[0] == 99 and len(res.entries) == n
    assert out.split()[-1] == "98"  # highest session counter seen, for store.next_counter
    assert render(res).startswith("(entries up to #%d were dropped" % res.anchor[0])


def test_a_torn_append_at_any_byte_reopens_as_the_old_log(tmp_path):
    p = str(tmp_path / "log.txt")
    out = run_mpy(
        WRITE_SOME % (p, 100, 5)
        + "with open(%r, 'rb') as f: full = f.read()\n"
        "cut = full.rindex(b'\\n', 0, len(full) - 1) + 1\n"  # start of the last line
        "bad = 0\n"
        "for n in range(cut, len(full)):\n"
        "    with open(%r, 'wb') as f: f.write(full[:n])\n"
        "    log = TransparencyLog(%r, 100)\n"
        "    with open(%r, 'rb') as f: now = f.read()\n"
        "    bad += now != full[:cut] or log.head()[0] != 3 or log.repaired != n - cut\n"
        "print(len(full) - cut, bad)\n" % (p, p, p, p)
    )
    tried, bad = map(int, out.split()[-2:])
    assert tried > 100 and bad == 0
    assert read_log(p).ok


REOPEN = (
    "from earshot.translog import TransparencyLog\n"
    "log = TransparencyLog(%r, 100)\n"
    "print(len(log), log.head()[0], log.repaired)\n"
)


def _quarantine(p):
    from tests.test_store import decode_state

    return decode_state((p.parent / (p.name + ".quarantine")).read_bytes())


def test_a_repair_keeps_every_entry_that_chains_and_sets_the_edited_one_aside(tmp_path):
    p = tmp_path / "log.txt"
    run_mpy(WRITE_SOME % (str(p), 100, 60))
    before = read_log(p)
    lines = p.read_bytes().split(b"\n")[:-1]
    edited = lines[32].replace(b'"consent": 5', b'"consent": 31')  # a session, mid-log
    assert edited != lines[32]
    p.write_bytes(b"\n".join(lines[:32] + [edited] + lines[33:]) + b"\n")
    out = run_mpy(REOPEN % str(p)).split()
    assert out == ["60", "60", str(len(edited) + 1)]  # 59 kept + the repair entry
    res = read_log(p)
    assert res.ok, res.error
    kept = {e.seq: e.hash for e in res.entries}
    assert all(kept[e.seq] == e.hash for e in before.entries if e.seq != 32)  # none lost
    assert 32 not in kept and res.gaps == [(32, 32, before.entries[32].hash)]
    assert res.entries[-1].kind == "repair"
    assert res.entries[-1].fields["quarantined_bytes"] == len(edited) + 1
    assert "entry #32 was set aside" in render(res)
    q = _quarantine(p)
    assert q["pending"] is True
    assert bytes.fromhex(q["items"][0]["data"]) == edited + b"\n"  # the bytes kept aside
    # What was seen before still checks out: pins on kept entries and on the gap itself.
    assert read_log(p, pins=[before.head, (32, before.entries[32].hash)]).ok


CUT_EVERYWHERE = """
import os
import earshot.store, earshot.translog
from earshot.translog import TransparencyLog


class Cut(Exception):
    pass


ops = [0, -1]  # done, cut before op number


def step():
    if ops[0] == ops[1]:
        raise Cut()
    ops[0] += 1


class File:
    def __init__(self, f):
        self.f = f
    def write(self, b):
        step()
        return self.f.write(b)
    def flush(self):
        return self.f.flush()
    def close(self):
        return self.f.close()
    def __enter__(self):
        return self
    def __exit__(self, *a):
        self.f.close()


def cut_open(path, mode="r"):
    if "w" in mode or "a" in mode:
        step()
        return File(open(path, mode))
    return open(path, mode)


class Os:
    def rename(self, a, b):
        step()
        os.rename(a, b)
    def remove(self, a):
        step()
        os.remove(a)
    def stat(self, a):
        return os.stat(a)
    def mkdir(self, a):
        return os.mkdir(a)


for mod in (earshot.store, earshot.translog):
    mod.open = cut_open
    mod.os = Os()
P = %r
with open(P + ".damaged", "rb") as f:
    damaged = f.read()
n = 0
while True:
    for name in (P, P + ".tmp", P + ".quarantine", P + ".quarantine.tmp"):
        try:
            os.remove(name)
        except OSError:
            pass
    with open(P, "wb") as f:
        f.write(damaged)
    ops[0], ops[1] = 0, n
    try:
        TransparencyLog(P, 100)
        break  # the whole repair ran: every cut point was tried
    except Cut:
        pass
    ops[1] = -1
    TransparencyLog(P, 100)  # power on again
    with open(P, "rb") as f:
        log_now = f.read()
    with open(P + ".quarantine", "rb") as f:
        print(n, log_now.hex(), f.read().hex())
    n += 1
"""


def test_a_power_cut_at_any_write_of_a_repair_loses_nothing_and_logs_it_once(tmp_path):
    # Every write, rename and remove of a repair is a cut point (store.py and translog.py
    # make each file atomic; this proves their order): after any cut, the next start holds
    # every entry that chains, the edited one in the quarantine exactly once, one repair entry.
    p = tmp_path / "log.txt"
    run_mpy(WRITE_SOME % (str(p), 100, 12))
    before = read_log(p)
    lines = p.read_bytes().split(b"\n")[:-1]
    lines[5] = lines[5].replace(b'"t": 50', b'"t": 51')
    (tmp_path / "log.txt.damaged").write_bytes(b"\n".join(lines) + b"\n")
    out = run_mpy(CUT_EVERYWHERE % str(p)).split("\n")[:-1]
    assert len(out) >= 6  # quarantine tmp write + rename, log tmp write + rename, append, mark
    from tests.test_store import decode_state

    for row in out:
        n, data, quarantine = row.split()
        res = verify_log(bytes.fromhex(data))
        assert res.ok, (n, res.error)
        kept = {e.seq: e.hash for e in res.entries}
        assert all(kept[e.seq] == e.hash for e in before.entries if e.seq != 5), n
        assert [e.kind for e in res.entries].count("repair") == 1, n
        q = decode_state(bytes.fromhex(quarantine))
        assert q["pending"] and len(q["items"]) == 1, n
        assert bytes.fromhex(q["items"][0]["data"]) == lines[5] + b"\n", n


def test_garbage_in_the_middle_costs_only_the_lines_it_spoiled(tmp_path):
    p = tmp_path / "log.txt"
    run_mpy(WRITE_SOME % (str(p), 100, 10))
    lines = p.read_bytes().split(b"\n")[:-1]
    p.write_bytes(b"\n".join(lines[:4] + [b"\xff" * 40] + lines[4:]) + b"\n")
    run_mpy(REOPEN % str(p))
    res = read_log(p)
    assert res.ok and [e.seq for e in res.entries][:10] == list(range(10))
    assert bytes.fromhex(_quarantine(p)["items"][0]["data"]) == b"\xff" * 40 + b"\n"


def test_the_host_catches_edited_removed_or_inserted_entries(tmp_path):
    p = tmp_path / "log.txt"
    run_mpy(WRITE_SOME % (str(p), 100, 6))
    lines = p.read_bytes().split(b"\n")[:-1]

    def joined(ls):
        return b"\n".join(ls) + b"\n"

    edited = list(lines)
    edited[2] = edited[2].replace(b'"consent": 5', b'"consent": 1')
    assert verify_log(joined(edited)).error.startswith("line 3: hash does not chain")
    assert verify_log(joined(lines[:2] + lines[3:])).error.startswith("line 3:")
    assert verify_log(joined(lines[:2] + [lines[1]] + lines[2:])).error.startswith("line 3:")
    assert verify_log(joined(lines[1:])).error.startswith("line 1:")  # the first one removed
    assert verify_log(joined(lines) + b"abc").torn_bytes == 3


def test_pinned_heads_catch_a_log_rolled_back_or_rewritten(tmp_path):
    a, b = tmp_path / "a.txt", tmp_path / "b.txt"
    run_mpy(WRITE_SOME % (str(a), 100, 6))
    run_mpy(WRITE_SOME % (str(b), 100, 4))  # the same first entries...
    pin = read_log(a).head
    assert read_log(a, pins=[pin]).ok
    assert "rolled back" in read_log(b, pins=[pin]).error
    assert read_log(b, pins=[(3, read_log(a).entries[3].hash)]).ok  # b is a's prefix
    # ...but a log rebuilt with other content is caught even though it chains internally.
    run_mpy(
        "from earshot.translog import TransparencyLog\n"
        "log = TransparencyLog(%r, 100)\n"
        "for i in range(6): log.mute(i, False, 'host')\n" % str(tmp_path / "c.txt")
    )
    res = read_log(tmp_path / "c.txt", pins=[pin])
    assert "rewritten" in res.error


def test_a_leftover_tmp_after_a_cut_during_compaction_is_ignored_or_adopted(tmp_path):
    p = str(tmp_path / "log.txt")
    out = run_mpy(
        WRITE_SOME % (p, 100, 4)
        + "import os\n"
        "with open(%r, 'wb') as f: f.write(b'A 7 ' + b'0' * 20)\n"  # torn compaction output
        "print(TransparencyLog(%r, 100).head()[0])\n"
        "os.rename(%r, %r)\n"  # only the (complete) tmp left: FAT cut between remove/rename
        "print(TransparencyLog(%r, 100).head()[0])\n" % (p + ".tmp", p, p, p + ".tmp", p)
    )
    assert out.split()[-2:] == ["3", "3"]


def test_a_compaction_in_slices_gives_the_same_log_as_one_in_a_go(tmp_path):
    # compact_later: the owner calls compact_step() each frame; entries appended meanwhile
    # are carried over, and the result is byte-identical to the one-shot compaction's.
    one, sliced = str(tmp_path / "one.txt"), str(tmp_path / "sliced.txt")
    out = run_mpy("""
from earshot.translog import TransparencyLog
def fill(log, n, start):
    for i in range(start, start + n):
        log.consent(i, {'old': 0, 'new': 1, 'source': 'button', 'preset': 'assistant',
                        'guest': False, 'pad': 'p' * 100})
a = TransparencyLog(%r, 64)
fill(a, 70, 0)
b = TransparencyLog(%r, 64)
b.compact_later = True
fill(b, 65, 0)
steps = 0
while b.compact_step():
    steps += 1
    if steps in (2, 4, 6, 8, 10):
        fill(b, 1, 64 + steps // 2)  # the household keeps changing things meanwhile
print(steps, len(a), len(b), a.head() == b.head(), a.anchor() == b.anchor())
print(b.compact_step())
""" % (one, sliced))
    lines = out.splitlines()
    steps, na, nb, same_head, same_anchor = lines[0].split()
    assert int(steps) > 5 and same_head == "True" and same_anchor == "True" and na == nb
    assert lines[1] == "False"
    assert open(one, "rb").read() == open(sliced, "rb").read()
    assert read_log(sliced).ok


def test_every_entry_kind_is_described_and_an_unknown_one_keeps_its_fields():
    # `earshot log` and the page show these lines: a kind that lost its words (None) would
    # print nothing for an event the household should see.
    from host_tools.records.translog import Entry

    def line(kind, **fields):
        return describe(Entry(seq=3, t=1500, kind=kind, fields=fields, hash="0" * 64))

    assert line("repair_ack", by="mute button held").endswith(
        "the log repair warning was acknowledged at the board (mute button held)")
    assert line("repair", lines=2, quarantined_bytes=90, kept_bytes=90).endswith(
        "LOG REPAIRED at boot: 2 lines (90 bytes) that did not chain were set aside on the "
        "board (90 bytes kept there); every entry that chains was kept")
    assert line("repair", dropped_bytes=12).endswith(
        "log repaired at boot: 12 damaged bytes dropped")  # as firmware before quarantine wrote
    assert line("from_the_future", x=1).endswith('from_the_future {"x": 1}')


def test_the_firmware_log_refuses_a_malformed_anchor_and_a_log_too_small_to_chain(tmp_path):
    # An anchor line (what compaction leaves of the dropped entries) is "A seq hash" or
    # "A seq hash counter tag", each hash 64 hex digits; anything else is not an anchor. A log
    # must keep at least 2 entries (the anchor and one entry to chain from it).
    out = run_mpy(r"""
from earshot import translog
h = b"ab" * 32
for line in (b"A 5 " + h, b"A 5 " + h + b" 7 " + h, b"A 5 abcd", b"B 5 " + h,
             b"A 5 " + h + b" 7 abcd", b"A 5 " + h + b" 7"):
    r = translog._parse_anchor(line)
    print(None if r is None else (r[0], len(r[1]), r[2], None if r[3] is None else len(r[3])))
translog.TransparencyLog(%r, 2)
try:
    translog.TransparencyLog(%r, 1)
    print("1 taken")
except ValueError:
    print("1 refused")
""" % (str(tmp_path / "a.txt"), str(tmp_path / "b.txt")))
    assert out.splitlines() == ["(5, 32, 0, None)", "(5, 32, 7, 32)", "None", "None", "None",
                                "None", "1 refused"]
