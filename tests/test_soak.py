"""A dose of the soak (make soak HOURS=24 runs the whole day): three minutes of board time with
speech, push-to-talk, the wake word, host chatter, a log compaction and every fidelity model
on. Nothing may be lost and nothing may grow."""

from host_tools.sim import soak


def test_three_minutes_of_a_household_lose_nothing_and_grow_nothing(tmp_path):
    lines = []
    ok, report = soak.run(0.05, tmp_path / "soak", say=lines.append, slow_every=5, flash_every=4)
    assert ok, "\n".join(lines[-30:])
    t = report["totals"]
    assert t["ptt_sessions"] == t["ptt_expected"] > 5 and t["sessions"] >= t["ptt_sessions"]
    # the host stopped reading, and the flash was written mid-session: no silent splice
    assert t["host_stalls"] == t["host_slow_cuts"] >= 1 and t["flash_mid_session"] >= 1
    assert t["silent_splices"] == 0 and t["pilot_s"] > 10
    assert report["samples"][-1]["lost_ms"] == t["stall_lost_ms"]
    # the log was nearly full at the start; each session added an entry, so it compacted
    first, last = report["samples"][0], report["samples"][-1]
    assert first["log_entries"] + t["sessions"] > 256 >= last["log_entries"]
    assert (tmp_path / "soak" / "report.txt").read_text().strip().endswith("RESULT: PASS")


def test_a_soak_stopped_midway_reports_the_hours_it_ran_and_exits_130(tmp_path):
    # Before, Ctrl-C (or CI's SIGTERM) threw away every hour a long soak had run: the report
    # was only written at the end.
    import json
    import signal
    import subprocess
    import sys

    proc = subprocess.Popen([sys.executable, "-m", "host_tools.sim.soak", "--hours", "5",
                             "--out", str(tmp_path)], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    out = []
    for line in proc.stdout:
        out.append(line)
        if line.startswith("soak: ") and " h of 5.00 h board time" in line:
            # after the first five minutes of board time, and once more while it judges them
            proc.send_signal(signal.SIGTERM)
    assert proc.wait(120) == 130, "".join(out)
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["stopped_early"] is True and 0 < report["hours"] < 5
    assert report["totals"]["sessions"] > 0 and report["checks"]
    text = (tmp_path / "report.txt").read_text()
    assert "STOPPED EARLY" in text and "RESULT:" in text
