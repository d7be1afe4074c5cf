"""Power-cut campaign (privacy contract point 8): MicroPython processes change consent (log entry,
then state file), reserve session counters and log sessions in a loop, and are killed with
SIGKILL at random instants, then "powered on" again. After every cut: the consent file reads as
the old or the new state, the counter never goes back, the log verifies on the host and holds
the old or the new head, and the next boot reads exactly what the host reads."""

import json
import os
import random
import signal
import subprocess
import time

from host_tools.records.translog import verify_log
from host_tools.sim.unix_port import micropython_binary
from tests.mpy import FIRMWARE
from tests.test_store import decode_state

TRIALS = int(os.environ.get("PRIVACY_POWERCUTS", "250"))  # make privacy-report sets it
MAX_ENTRIES = 16  # small, so compactions (tmp + rename) happen every couple of appends

WORKER = """
import sys
sys.path.insert(0, %(fw)r)
import json
from earshot import store
from earshot.consent import Consent
from earshot.translog import TransparencyLog

D = %(dir)r


def out(*words):
    sys.stdout.write(' '.join([str(w) for w in words]) + '\\n')  # one write per line


saved = store.load(D + '/consent.json')
log = TransparencyLog(D + '/log.txt', %(max)d)
cons = Consent.from_state(saved)
n = saved['n'] if saved else 0
out('boot', log.head()[0], log.head()[1], json.dumps(saved))
t = 0

def changed(event, now):
    # The order the firmware uses: log first, then state, so no applied change goes unlogged.
    global n
    out('L', log.head()[0] + 1)
    log.consent(now, event)
    out('l', log.head()[0])
    n += 1
    state = cons.state_dict()
    state['n'] = n
    state['pad'] = 'x' * (n %% 97)
    out('S', n)
    store.save(D + '/consent.json', state)
    out('s', n)

cons._on_change = changed
while True:
    t += 7
    if t %% 3:
        cons.cycle(t)
    else:
        cons.set_guest(not cons.guest, 'button', t)
    c = store.next_counter(D + '/counter.json', log.max_counter())
    out('C', c)
    out('L', log.head()[0] + 1)
    log.session(t, b'\\x00' * 8, c, t, 1000, 32000, cons.flags, b'\\x11' * 32, 'ptt', 'mute')
    out('l', log.head()[0])
"""


def _read(path):
    return path.read_bytes() if path.exists() else b""


def _wait_for_boot(path, proc):
    """The Unix port starts inside CPython (~50 ms); cut once the firmware has booted."""
    deadline = time.monotonic() + 10
    while b"boot" not in path.read_bytes():
        assert proc.poll() is None, "worker died: %s" % path.read_text()
        assert time.monotonic() < deadline, "worker did not boot"
        time.sleep(0.0005)


def _parse(out):
    last = {}
    counters = []
    boot = None
    # A cut can land inside a print: an unterminated last line never happened.
    for line in out.split("\n")[:-1]:
        parts = line.split(" ", 1)
        if parts[0] == "boot":
            boot = line
        elif parts[0] in ("S", "s", "L", "l"):
            last[parts[0]] = int(parts[1])
        elif parts[0] == "C":
            counters.append(int(parts[1]))
    return boot, last, counters


def test_power_cuts_during_consent_changes_counters_and_log_appends_leave_old_or_new(tmp_path):
    rng = random.Random(8)
    code = WORKER % {"fw": str(FIRMWARE), "dir": str(tmp_path), "max": MAX_ENTRIES}
    binary = micropython_binary()
    state_n, head = 0, (-1, "0" * 64)  # what the host read after the previous cut
    max_counter = 0
    started = time.monotonic()
    cut_in_boot = mid_save = mid_append = tmp_left = 0
    for trial in range(TRIALS):
        with open(tmp_path / "out.txt", "wb") as out:
            proc = subprocess.Popen([binary, "-X", "heapsize=256K", "-c", code], stdout=out,
                                    stderr=subprocess.PIPE)
            if rng.random() < 0.2:
                time.sleep(rng.uniform(0.0, 0.08))  # somewhere in start-up, open or repair
            else:
                _wait_for_boot(tmp_path / "out.txt", proc)
                time.sleep(rng.uniform(0.0, 0.025))  # somewhere in the loop of changes
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
            err = proc.stderr.read().decode()
            proc.stderr.close()
        assert "Traceback" not in err + _read(tmp_path / "out.txt").decode(), err
        boot, last, counters = _parse((tmp_path / "out.txt").read_text())
        if boot is None:
            cut_in_boot += 1
        else:
            # Power-on reads exactly what the host read after the previous cut.
            _, seq, hsh, saved = boot.split(" ", 3)
            assert (int(seq), hsh) == head, (trial, boot)
            saved = json.loads(saved)
            assert (saved["n"] if saved else 0) == state_n, (trial, boot)

        # Consent state file: old or new, never torn.
        state = decode_state(_read(tmp_path / "consent.json"))
        new_n = state["n"] if state else 0
        if "S" in last:
            ok = {last["S"]} if last.get("s") == last["S"] else {last["S"] - 1, last["S"]}
            assert new_n in ok, (trial, new_n, last)
        else:
            assert new_n == state_n, (trial, new_n, state_n)
        state_n = new_n
        mid_save += "S" in last and last.get("s") != last["S"]
        tmp_left += any(p.name.endswith(".tmp") for p in tmp_path.iterdir())

        # Counters: persisted before use, never reused across cuts.
        if counters:
            assert counters[0] > max_counter, (trial, counters, max_counter)
            max_counter = counters[-1]
        ctr = decode_state(_read(tmp_path / "counter.json"))
        assert ctr is None or ctr["counter"] >= max_counter

        # Transparency log: verifies; head is the one before or after the append in flight.
        res = verify_log(_read(tmp_path / "log.txt"))
        assert res.ok, (trial, res.error)
        if "L" in last:
            ok = {last["L"]} if last.get("l") == last["L"] else {last["L"] - 1, last["L"]}
            assert res.head[0] in ok, (trial, res.head, last)
            mid_append += last.get("l") != last["L"]
        else:
            assert res.head == head
        assert len(res.entries) <= MAX_ENTRIES + 1
        head = res.head

    elapsed = time.monotonic() - started
    print("power-cut campaign: %d cuts (%d before boot, %d inside a state save, %d inside a log "
          "append, %d left a .tmp), last counter %d, log head #%d, %.1f s"
          % (TRIALS, cut_in_boot, mid_save, mid_append, tmp_left, max_counter, head[0], elapsed))
    report_dir = os.environ.get("EARSHOT_REPORT_DIR")  # `make privacy-report` collects these
    if report_dir:
        os.makedirs(report_dir, exist_ok=True)
        with open(os.path.join(report_dir, "powercut.json"), "w") as f:
            json.dump({"trials": TRIALS, "before_boot": cut_in_boot, "inside_state_save": mid_save,
                       "inside_log_append": mid_append, "tmp_left": tmp_left,
                       "log_entries_written": head[0] + 1, "violations": 0,
                       "seconds": round(elapsed, 1)}, f)
    assert head[0] > TRIALS  # the processes got real work done between cuts
    assert elapsed < 120  # ~16 s on an idle machine; the bound only catches a hang
