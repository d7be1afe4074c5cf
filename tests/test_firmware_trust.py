"""Firmware pieces of the trust boundary, in the MicroPython Unix port: the confirm gesture, the
counter and session chain surviving a trimmed log and a lost counter file, session ids that never
repeat, and the boot log naming a session a reset cut off."""

from host_tools.records.translog import read_log
from tests.mpy import run_mpy


def test_both_buttons_together_are_the_confirm_gesture_and_nothing_else():
    out = run_mpy("""
from earshot.buttons import Buttons
M, A = 1, 2
def run(steps, prime=0):
    b = Buttons((M, A)); b.prime(prime, 0); out = []
    for t, mask in steps:
        out += b.update(mask, t) or []
    return out
def held(t0, t1, mask):   # one sample per 20 ms audio frame
    return [(t, mask) for t in range(t0, t1, 20)]
print(run([(0, A), (100, 0)]))                                  # push-to-talk
print(run(held(0, 700, M | A) + [(700, 0)]))                    # chord: 'both', no presses
print(run(held(0, 200, M | A) + [(200, 0)]))                    # too short: no gesture
print(run([(0, A)] + held(200, 2000, M | A) + [(2100, 0)]))     # no long, no ptt
print(run(held(0, 1000, M | A) + [(1000, 0)], prime=M | A))     # the boot gesture's release
print(run(held(0, 1600, A) + [(1600, 0)]))                       # long: the next preset
print(run(held(0, 4100, A) + [(4100, 0)]))                       # very long: guest mode
print(run([(t, M | A) for t in range(0, 600, 40)] + [(600, 0)]))  # 15 samples, a late loop
print(run(held(0, 480, M | A) + [(520, M | A), (540, 0)]))       # 25 samples over 520 ms
""")
    assert out.splitlines() == [
        "[('press', 2)]",
        "[('chord', 3), ('both', 3)]",
        "[('chord', 3)]",
        "[('chord', 3), ('both', 3)]",
        "[]",
        "[('long', 2)]",
        "[('long', 2), ('very_long', 2)]",
        # The chord must be seen in BOTH_FRAMES (25) samples in a row and for 0.5 s of board
        # time: a loop that samples it only every 40 ms needs 1 s, not 0.5 s...
        "[('chord', 3)]",
        # ...and 25 samples in a row spanning 0.5 s confirm, however unevenly they came.
        "[('chord', 3), ('both', 3)]",
    ]


def test_a_trimmed_log_and_a_lost_counter_file_never_restart_counters_or_the_chain(tmp_path):
    d = str(tmp_path)
    out = run_mpy("""
import os, binascii
from earshot import store
from earshot.translog import TransparencyLog
d = %r
log = TransparencyLog(d + '/log.txt', 16)
for i in range(40):   # 40 sessions: the log keeps at most 16 entries
    c = store.next_counter(d + '/counter.json', log.max_counter())
    log.append('open', {'id': '%%016x' %% c, 'counter': c, 'tag': '%%064x' %% c}, i)
    log.session(i, bytes(8), c, 0, 10, 320, 1, bytes(32))
print(c, len(log), log.anchor() is not None)
os.remove(d + '/counter.json')   # lost
log = TransparencyLog(d + '/log.txt', 16)
print(store.next_counter(d + '/counter.json', log.max_counter()),
      binascii.hexlify(log.last_tag()).decode()[-4:])
""" % d)
    first, after = out.splitlines()
    assert first == "40 14 True"
    assert after == "41 0028"  # above every counter ever used; chained to session 40's header
    res = read_log(tmp_path / "log.txt")
    assert res.ok and res.anchor_counter >= 33  # the anchor carries the highest counter


def test_session_ids_never_repeat_even_if_the_random_generator_does():
    # os.urandom on the ESP32-S3 is esp_random(): pseudo-random with the radio off.
    out = run_mpy("""
from earshot.forward import Forwarder
f = Forwarder(None, None, None, lambda n: bytes(n))   # the worst generator: all zeros
ids = {f._session_id(c) for c in range(1, 2001)}
print(len(ids), len(f._session_id(1)))
""", heap="2M")
    assert out.split() == ["2000", "8"]


def test_the_boot_log_names_a_session_left_open_and_the_reset_cause(tmp_path):
    d = str(tmp_path)
    out = run_mpy("""
from earshot.translog import TransparencyLog
log = TransparencyLog(%r + '/log.txt')
log.append('open', {'id': 'ab', 'counter': 7, 'tag': '00' * 32}, 5)
log = TransparencyLog(%r + '/log.txt')      # the board reset before the session ended
print(log.open_session['id'])
log.append('interrupted', {'id': 'ab', 'counter': 7, 'cause': 'power-on'}, 0)
print(TransparencyLog(%r + '/log.txt').open_session)
""" % (d, d, d))
    assert out.split() == ["ab", "None"]
