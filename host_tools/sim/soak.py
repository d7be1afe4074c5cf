"""Soak: hours of a household's day on one virtual board, with every fidelity model on.

    python -m host_tools.sim.soak --hours 24 --out out/soak     (make soak HOURS=24)

The board hears episodes of board time, queued back to back so they run faster than real time:
background speech, a push-to-talk utterance, the wake word and an utterance, and now and then a
long press that moves consent along the presets (some allow pre-roll, "private" allows nothing
to leave). The host talks to it between episodes (status every time, a mute from the host and
the button's unmute, a full `log` transfer). The serial path, I2S DMA, flash and watchdog models
are on (VirtualBoard defaults), and the log starts nearly full so it compacts within minutes.

Two knobs make the board's day harder, as a real one would be (issue 21):
- `slow_every`: every Nth episode the host holds the port but stops reading for `slow_ms` in the
  middle of the push-to-talk session (serial_line.py): the board must cut that session cleanly
  (`host_slow`, logged; the receiver sees it truncated) and carry on when the host talks again;
- `flash_every`: every Nth episode the household confirms a wider consent while the wake-word
  session streams, so the state file and the log are written under audio (flash_cost.py: the
  erase masks the I2S interrupt and audio is skipped).
The utterances are a pilot tone (pilot.py), so a silent splice in any session shows: there may
be none. A gap the board marked (a skipped chunk index) is counted, not failed: the audio was
really lost and the receiver is told where.

Every other session must verify (signed, counters rising across the whole soak) and carry the
audio its utterance had; every push-to-talk while consent allows streaming must give one;
no audio may be lost to a late loop. Sampled per window of board time: heap (live after a collection, and the
peak between), per-frame processing time in board time (what serial and flash writes cost the
loop) and on the PC, sessions and chunks, lost audio, log size and entries, serial and flash
traffic. A figure that grows window after window is a leak; the report says which did.
"""

import argparse
import json
import signal
import math
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from ..board.build import build
from ..board.files import load as load_board
from ..hil.fixtures import KEY, boot_board, confirm, connect, silence, speech_like
from ..link.protocol import T_EVENT, T_SESSION_CHUNK, T_SESSION_CLOSE, T_SESSION_HEADER
from ..records import sessions
from ..records.translog import verify_log
from ..resources import audio, firmware_dir
from .pilot import check as pilot_check
from .pilot import pilot
from .unix_port import micropython_binary
from .world import read_pcm

SESSION_TYPES = (T_SESSION_HEADER, T_SESSION_CHUNK, T_SESSION_CLOSE)
PRESETS_STREAMING = {"assistant", "history", "contribute"}
WIDER = {"assistant": "history", "history": "contribute"}  # a consent a household may widen to
WINDOW_S = 300.0  # board seconds per sample
LOG_PREFILL = 250


def prefill_log(flash, n=LOG_PREFILL):
    """Start with a nearly full, valid transparency log (written by the firmware's own
    TransparencyLog in the Unix port), so it compacts early."""
    data = flash / "data"
    data.mkdir(exist_ok=True)
    code = """
import sys
sys.path.insert(0, %r)
from earshot.translog import TransparencyLog
log = TransparencyLog(%r, 256)
for i in range(%d):
    log.append("consent", {"old": 0, "new": 1, "source": "button", "preset": "assistant",
                           "guest": False}, i)
""" % (str(firmware_dir()), str(data / "log.txt"), n)
    subprocess.run([micropython_binary(), "-c", code], check=True, timeout=120)


def drain(client, quiet=0.15):
    """Every frame the board sends until it has been quiet for `quiet` seconds."""
    frames = client.frames(0)
    while True:
        more = client.read_frames(quiet)
        if not more:
            return frames
        frames += more


class Soak:
    def __init__(self, board, client, seed=0, slow_every=0, slow_ms=1500, flash_every=0):
        self.board = board
        self.c = client
        self.seed = seed
        self.slow_every = slow_every
        self.slow_ms = slow_ms
        self.flash_every = flash_every
        self.wake_clip = read_pcm(audio("alexa_en-us.wav"))
        self.counters = {}  # verify_stream's replay memory across the whole soak
        self.totals = {"episodes": 0, "ptt_expected": 0, "ptt_sessions": 0, "wake_events": 0,
                       "wake_sessions": 0, "sessions": 0, "sessions_failed": 0, "chunks": 0,
                       "audio_ms": 0, "gaps": 0, "refused": 0, "log_transfers": 0,
                       "log_transfer_failures": 0, "consent_changes": 0, "short_sessions": 0,
                       "host_stalls": 0, "host_slow_cuts": 0, "flash_mid_session": 0,
                       "marked_gaps": 0, "silent_splices": 0, "pilot_s": 0.0,
                       "stall_lost_ms": 0, "stall_longest_ms": 0}
        self.failures = []  # the first few things that went wrong, in words
        self.samples = []
        self._records = []

    # -- one episode -------------------------------------------------------------------------

    def episode(self, k):
        b, w = self.board, self.board.world
        preset = self.c.command("status")["consent"]["preset"]
        streaming = preset in PRESETS_STREAMING
        slow = self.slow_every and k % self.slow_every == self.slow_every - 1 and streaming
        wider = WIDER.get(preset) if self.flash_every and \
            k % self.flash_every == self.flash_every - 1 and not slow else None
        t = b.time_s + 0.05
        parts = []

        def add(pcm):
            nonlocal t
            parts.append(pcm)
            start = t
            t += len(pcm) / 32000
            return start

        def play():
            nonlocal t
            b.play(b"".join(parts))
            b.wait_audio_done(timeout=600)
            parts.clear()
            t = b.time_s + 0.05

        add(speech_like(6.0, seed=self.seed + 3 * k))  # a conversation nobody addressed to it
        add(silence(1.0))
        ptt_at = add(silence(0.2))
        w.hold("action", 0.1, at=ptt_at)  # push-to-talk
        add(pilot(2.5, start=k * 40000))
        add(silence(1.6))
        if slow:  # the host stops reading a second into the push-to-talk session
            w.host_stops_reading(self.slow_ms, at=ptt_at + 1.0)
            self.totals["host_stalls"] += 1
            # What the stall costs is counted apart: the one write that finds the host gone
            # blocks 0.5-1 s (upstream's CDC timeout, twice), longer than the DMA buffer.
            lost0, busy_max0 = w.lost_samples, w.frame_stats.busy.max
            w.frame_stats.busy.max = 0
        if wider:
            # The household is asked for a wider consent, and confirms it while the wake-word
            # session streams: the state file and the log are written under audio.
            play()
            self.c.send("consent", preset=wider)
            self.totals["flash_mid_session"] += 1
            self.totals["consent_changes"] += 1
        add(self.wake_clip)
        utter = add(pilot(1.5 if not wider else 2.5, start=k * 40000 + 50000))
        if wider:
            w.hold("mute+action", 0.7, at=utter + 0.6)
        add(silence(1.6))
        if k % 13 == 12:  # the household moves consent on: a long press
            w.hold("action", 1.7, at=add(silence(2.5)))
            self.totals["consent_changes"] += 1
        play()
        frames = drain(self.c)
        if slow:
            self.c.command("status")  # the host talks again: the board writes again
            frames += drain(self.c)
            self.totals["stall_lost_ms"] += (w.lost_samples - lost0) // 16
            self.totals["stall_longest_ms"] = max(self.totals["stall_longest_ms"],
                                                  w.frame_stats.busy.max // 1000)
            w.frame_stats.busy.max = busy_max0
        self.totals["episodes"] += 1
        if streaming and not slow:
            self.totals["ptt_expected"] += 1
        self._check(frames, streaming, slow)
        self._chatter(k)

    def _check(self, frames, streaming, slow=False):
        evs = [f.event() for f in frames if f.type == T_EVENT]
        wakes = [e for e in evs if e.get("ev") == "wake"]
        self.totals["wake_events"] += len(wakes)
        self.totals["refused"] += sum(1 for e in evs if e.get("ev") == "refused")
        ends = [e for e in evs if e.get("ev") == "session"]
        self._records += [f.payload for f in frames if f.type in SESSION_TYPES]
        if not any(f.type == T_SESSION_CLOSE for f in frames) and not ends:
            records = []
        else:
            records, self._records = self._records, []
        marked = sum(e.get("gaps", 0) for e in ends)
        if slow:
            # The board stopped writing when the host stopped reading and said so when it
            # talked again; the session it cut ends as host_slow in its log (its end event never
            # left), and the receiver sees it truncated (tests/test_host_stops_reading.py).
            if any("stopped reading" in e.get("text", "") for e in evs if e.get("ev") == "note"):
                self.totals["host_slow_cuts"] += 1
            else:
                self._fail("the host stopped reading and the board did not say so")
            records, self._records = [], []
        if records:
            pc = pilot_check(records)
            self.totals["silent_splices"] += pc.splices
            self.totals["marked_gaps"] += pc.gaps
            self.totals["pilot_s"] += pc.pilot_samples / 16000
            if pc.splices:
                self._fail("%d silent splices in a session" % pc.splices)
            if pc.gaps != marked:
                self._fail("%d gaps in the stream, %d reported" % (pc.gaps, marked))
        if not records:
            return
        result = sessions.verify_stream(records, KEY, self.counters)
        if not result.ok:
            self.totals["sessions_failed"] += 1
            self._fail("session did not verify: %s" % result.failure)
        if sum(info.gaps for info in result.sessions) != marked:
            self._fail("the board reported %d gaps, the receiver verified %d" % (
                marked, sum(info.gaps for info in result.sessions)))
        for info in result.sessions:
            self.totals["sessions"] += 1
            self.totals["ptt_sessions" if info.wake_word == "ptt" else "wake_sessions"] += 1
            if info.gaps:
                continue  # audio declared missing: its chunks are not whole 100 ms ones
            if info.chunks != math.ceil(info.nbytes / 3200):
                self._fail("session %d: %d chunks for %d bytes" % (
                    info.counter, info.chunks, info.nbytes))
            self.totals["audio_ms"] += info.duration_ms
            self.totals["chunks"] += info.chunks
            if info.wake_word == "ptt" and not 2300 <= info.duration_ms <= 4500:
                self.totals["short_sessions"] += 1
                self._fail("push-to-talk session %d carried %d ms for 2.5 s of speech"
                           % (info.counter, info.duration_ms))

    def _chatter(self, k):
        b, c = self.board, self.c
        if k % 7 == 6:  # a host mutes; only the button unmutes
            c.command("mute")
            b.press("mute")
        if k % 10 == 9:
            self.totals["log_transfers"] += 1
            try:
                data, reply = c.read_log()
                result = verify_log(data)
                if not result.ok or list(result.head) != list(reply["head"]):
                    raise ValueError(result.error or "head differs")
            except Exception as e:  # noqa: BLE001 - a soak reports, it does not stop
                self.totals["log_transfer_failures"] += 1
                self._fail("log transfer: %s" % e)
        # the chatter's own events (mute, consent) are not sessions; keep any session record
        self._records += [f.payload for f in drain(self.c, 0.05) if f.type in SESSION_TYPES]

    def _fail(self, what):
        if len(self.failures) < 20:
            self.failures.append("board %.0f s: %s" % (self.board.time_s, what))

    # -- sampling ----------------------------------------------------------------------------

    def sample(self, t_start):
        b, w = self.board, self.board.world
        st = self.c.command("status")
        log_file = b.flash_dir / "data" / "log.txt"
        row = {
            "board_s": round(b.time_s - t_start, 1), "wall_s": round(time.monotonic(), 1),
            "mem_live": st["mem"]["live"], "mem_peak": st["mem"]["peak"],
            "mem_free": st["mem"]["free"],
            "frame": w.frame_stats.summary(),
            "lost_ms": w.lost_samples // 16, "board_lost_ms": st["audio_lost_ms"],
            "sessions": self.totals["sessions"], "chunks": self.totals["chunks"],
            "ptt_expected": self.totals["ptt_expected"],
            "ptt_sessions": self.totals["ptt_sessions"],
            "log_entries": st["log"]["entries"],
            "log_bytes": log_file.stat().st_size if log_file.exists() else 0,
            "serial_bytes": w.serial.bytes, "flash_bytes": w.flash.bytes,
            "flash_erases": w.flash.erases, "boots": b.boots,
            "watchdog_resets": b.watchdog_resets,
        }
        w.frame_stats.reset()
        self.samples.append(row)
        return row


def verdict(soak):
    """The checks that decide the soak: (ok, list of lines)."""
    t, rows = soak.totals, soak.samples
    lines = []

    def check(ok, text):
        lines.append(("PASS " if ok else "FAIL ") + text)
        return ok

    ok = True
    last = rows[-1]
    stall_lost = t.get("stall_lost_ms", 0)
    ok &= check(last["lost_ms"] - stall_lost == 0,
                "audio lost: %d ms, all of it while the host had stopped reading (%d ms over "
                "%d stalls; longest write then %d ms)" % (
                    last["lost_ms"], stall_lost, t.get("host_stalls", 0),
                    t.get("stall_longest_ms", 0))
                if stall_lost else "audio lost: %d ms" % last["lost_ms"])
    ok &= check(t["sessions_failed"] == 0,
                "sessions verified: %d, failed %d (%d gaps the board declared, signed; %d cut "
                "when the host stopped reading, not verified whole)" % (
                    t["sessions"], t["sessions_failed"], t.get("marked_gaps", 0),
                    t.get("host_slow_cuts", 0)))
    ok &= check(t.get("silent_splices", 0) == 0,
                "silent splices: %d in %.0f s of pilot tone (flash writes mid-session: %d, host "
                "stalls: %d)" % (t.get("silent_splices", 0), t.get("pilot_s", 0),
                                 t.get("flash_mid_session", 0), t.get("host_stalls", 0)))
    ok &= check(t.get("host_slow_cuts", 0) == t.get("host_stalls", 0),
                "host stalls: %d, sessions cut for them: %d" % (
                    t.get("host_stalls", 0), t.get("host_slow_cuts", 0)))
    ok &= check(t["ptt_sessions"] == t["ptt_expected"] and not t["short_sessions"],
                "push-to-talk sessions: %d of %d expected, %d short" % (
                    t["ptt_sessions"], t["ptt_expected"], t["short_sessions"]))
    ok &= check(last["boots"] == rows[0]["boots"] and last["watchdog_resets"] == 0,
                "resets during the soak: %d (watchdog %d)" % (
                    last["boots"] - rows[0]["boots"], last["watchdog_resets"]))
    ok &= check(t["log_transfer_failures"] == 0,
                "log transfers: %d, failed %d" % (t["log_transfers"],
                                                  t["log_transfer_failures"]))
    # Live heap after a collection, from the first window on (the sample at 0 s is before the
    # first session allocated its buffers): the second half may not exceed the first quarter.
    warm = rows[1:] or rows
    half = warm[len(warm) // 2 :] or warm
    first_live = max(r["mem_live"] for r in warm[: max(1, len(warm) // 4)])
    growth = max(r["mem_live"] for r in half) - first_live
    ok &= check(growth <= 1024, "live heap flat: first quarter max %d B, second half max %d B "
                "(%+d)" % (first_live, max(r["mem_live"] for r in half), growth))
    log_max = max(r["log_entries"] for r in rows)
    ok &= check(log_max <= 256 + 16, "log bounded: at most %d entries, %d bytes" % (
        log_max, max(r["log_bytes"] for r in rows)))
    worst = max(r["frame"]["board"]["max_us"] for r in rows)
    ok &= check(worst < 256_000, "longest frame in board time: %.1f ms (I2S DMA holds 256 ms)"
                % (worst / 1000))
    return ok, lines


def render(soak, ok, lines, hours):
    out = ["Earshot soak: %.2f h of board time on the virtual board (serial, DMA, flash, "
           "watchdog models on)" % hours, ""]
    out.append("%9s %8s %8s %8s %8s %8s %8s %7s %7s %8s %8s" % (
        "board_s", "live_B", "peak_B", "med_ms", "p99_ms", "max_ms", "pc_p99", "sess",
        "chunks", "log_ent", "log_B"))
    for r in soak.samples:
        fb, fp = r["frame"]["board"], r["frame"]["pc"]
        out.append("%9.0f %8d %8d %8.1f %8.1f %8.1f %8.2f %7d %7d %8d %8d" % (
            r["board_s"], r["mem_live"], r["mem_peak"], fb["median_us"] / 1000,
            fb["p99_us"] / 1000, fb["max_us"] / 1000, fp["p99_us"] / 1000, r["sessions"],
            r["chunks"], r["log_entries"], r["log_bytes"]))
    out.append("")
    out.append("totals: " + ", ".join("%s %s" % kv for kv in soak.totals.items()))
    out += [""] + lines
    if soak.failures:
        out += ["", "first failures:"] + ["  " + f for f in soak.failures]
    out.append("")
    out.append("RESULT: %s" % ("PASS" if ok else "FAIL"))
    return "\n".join(out)


def run(hours, out_dir=None, seed=0, say=print, slow_every=0, slow_ms=1500, flash_every=0):
    """Soak for `hours` of board time; returns (ok, report dict)."""
    tmp = Path(tempfile.mkdtemp(prefix="earshot-soak-"))
    try:
        image = build(load_board("virtual"), out=tmp / "image")
        flash = tmp / "flash"
        shutil.copytree(image, flash)
        prefill_log(flash)
        with boot_board(image, tmp) as board:
            board.wait_booted()
            c = connect(board.port)
            c.command("provision", device_id="soak", key=KEY.hex())
            c.command("consent", preset="assistant")
            confirm(board)
            board.press("mute")
            soak = Soak(board, c, seed, slow_every=slow_every, slow_ms=slow_ms,
                        flash_every=flash_every)
            t0 = board.time_s
            soak.sample(t0)
            next_sample = WINDOW_S
            k = 0
            wall0 = time.monotonic()
            stopped = False
            try:
                while board.time_s - t0 < hours * 3600:
                    soak.episode(k)
                    k += 1
                    if board.time_s - t0 >= next_sample:
                        row = soak.sample(t0)
                        next_sample += WINDOW_S
                        say("soak: %.2f h of %.2f h board time, %d sessions, live heap %d B, "
                            "lost %d ms (wall %.0f s)" % (row["board_s"] / 3600, hours,
                                                           row["sessions"], row["mem_live"],
                                                           row["lost_ms"],
                                                           time.monotonic() - wall0))
            except KeyboardInterrupt:
                # Ctrl-C (or SIGTERM): the hours soaked so far are judged and reported as such,
                # never thrown away; the run still counts as not done (exit 130).
                stopped = True
                say("soak: stopped at %.2f h of %.2f h board time: judging what ran"
                    % ((board.time_s - t0) / 3600, hours))
            soak.sample(t0)
            c.close()
            ok, lines = verdict(soak)
            report = {"hours": (board.time_s - t0) / 3600, "wall_s": time.monotonic() - wall0,
                      "totals": soak.totals, "samples": soak.samples, "checks": lines,
                      "failures": soak.failures, "ok": ok,
                      "stopped_early": stopped, "hours_asked": hours}
            text = render(soak, ok, lines, report["hours"])
            if stopped:
                text += "\nSTOPPED EARLY: %.2f h of the %.2f h asked were soaked" % (
                    report["hours"], hours)
        if out_dir:
            out_dir = Path(out_dir)
            out_dir.mkdir(parents=True, exist_ok=True)
            (out_dir / "report.json").write_text(json.dumps(report, indent=1))
            (out_dir / "report.txt").write_text(text + "\n")
        say(text)
        return ok, report
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


class _Saved:
    """A soak read back from its report.json, to judge it again (--judge)."""

    def __init__(self, report):
        self.totals = report["totals"]
        self.samples = report["samples"]
        self.failures = report.get("failures", [])


def judge(path):
    report = json.loads(Path(path).read_text())
    saved = _Saved(report)
    ok, lines = verdict(saved)
    report.update(ok=ok, checks=lines)
    Path(path).write_text(json.dumps(report, indent=1))
    text = render(saved, ok, lines, report["hours"])
    Path(path).with_name("report.txt").write_text(text + "\n")
    print(text)
    return ok


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m host_tools.sim.soak", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--hours", type=float, default=1.0, help="board time to soak (default 1)")
    p.add_argument("--out", default="out/soak", help="report directory (default out/soak)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--slow-every", type=int, default=0, metavar="N",
                   help="every Nth episode the host stops reading mid-session (default: never)")
    p.add_argument("--slow-ms", type=float, default=1500, metavar="MS",
                   help="for how long (board ms, default 1500)")
    p.add_argument("--flash-every", type=int, default=0, metavar="N",
                   help="every Nth episode a consent is confirmed mid-session: flash written "
                        "under audio (default: never)")
    p.add_argument("--judge", metavar="REPORT_JSON",
                   help="judge a saved report.json again with the current checks (no soak)")
    args = p.parse_args(argv)
    if args.judge:
        return 0 if judge(args.judge) else 1
    if args.hours <= 0:
        print("soak: --hours must be more than 0", file=sys.stderr)
        return 1
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGINT, _interrupt)
    ok, report = run(args.hours, args.out, args.seed, slow_every=args.slow_every,
                     slow_ms=args.slow_ms, flash_every=args.flash_every)
    if report.get("stopped_early"):
        return 130
    return 0 if ok else 1


def _interrupt(signum, frame):
    # once: a second Ctrl-C while the hours soaked are judged and written would lose them
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    raise KeyboardInterrupt


if __name__ == "__main__":
    sys.exit(main())
