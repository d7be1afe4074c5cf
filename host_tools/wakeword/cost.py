"""What the wake-word detector costs on the ESP32-S3, counted from the code mpy-cross emits.

`make bench-cost` compiles the detector's viper modules with mpy-cross -march=xtensawin,
decodes the machine code (host_tools/xtensa), finds each function's loops, and multiplies each
loop's instructions per trip by its trips per 20 ms hop. The trips come from `schedule`, which
derives them from the model manifest's shapes; `looptrace` counts them independently by
running the firmware source instrumented, and the two must agree (tests/test_bench_cost.py,
and `--check` here).

Instructions at one per cycle are a floor. The estimate counts cycles (host_tools/xtensa/
cycles.py: load-use stalls, taken branches, mull latency, l32r) along the same paths, then adds
what is not in the viper code, each with a stated cost per unit and its range (docs/wakeword.md
"Cost"): the runtime calls each viper function makes on entry to turn its arguments into
machine words, the interpreted glue (Detector.feed, Frontend.step, Model.step: bytecode counted
by running it, and its 16 calls into viper a hop), and the data cache misses of reading the
model's weights from PSRAM. The last line is the central estimate's share of a 240 MHz core.
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
from host_tools.xtensa import cycles as C
from host_tools.xtensa import decode, loops, mpyfile

from . import score as S

FIRMWARE = firmware_dir() / "earshot"
MODULES = ("ww_front", "ww_model")
# The clock the detector runs at: hw.esp32 sets 240 MHz at boot (machine.freq), because
# upstream's plain ESP32_GENERIC_S3 build does not include boards/sdkconfig.240mhz and boots at
# ESP-IDF's default of 160 MHz (its SPIRAM_OCT variant, which the PSRAM board files choose,
# includes it). `earshot bench` reads the clock the board really runs.
CLOCK_HZ = 240_000_000
BUDGET = 0.25  # share of one core the detector may use (docs/wakeword.md)

# What the viper code's cycles leave out, per unit, as (low, central, high) cycles at 240 MHz.
# None of these is a published figure: each is an assumption whose range is stated here and in
# docs/wakeword.md "Cost"; the units (calls, opcodes, lines) are counted.
RUNTIME_CALL = {"low": 60, "central": 150, "high": 400}
# ^ a callx8 from a viper prelude into the runtime (mp_native_from_obj: mp_obj_get_int or
#   mp_get_buffer_raise for a ptr argument) and back: call + entry + the C body + retw, with a
#   register-window overflow/underflow exception now and then (windowed ABI, 64 AR registers).
VIPER_CALL = {"low": 200, "central": 400, "high": 1000}
# ^ a call from bytecode into a viper function: the VM's CALL_FUNCTION, mp_call_function_n_kw,
#   the native function's argument check and its return value boxed.
GLUE_OP = {"low": 25, "central": 60, "high": 150}
# ^ one MicroPython bytecode op (dispatch, stack traffic, attribute/map lookups on the heavy
#   ones); the ops are counted as CPython's, which MicroPython's count matches within:
GLUE_RATIO = {"low": 0.8, "central": 1.0, "high": 1.3}
# PSRAM: every board file with PSRAM runs a SPIRAM build whose malloc prefers PSRAM above 8 KB
# (upstream ports/esp32/boards/sdkconfig.spiram_* CONFIG_SPIRAM_USE_MALLOC=y,
# CONFIG_SPIRAM_MALLOC_ALWAYSINTERNAL=8192) and the MicroPython heap itself is such an
# allocation (ports/esp32/main.c mp_task: MP_PLAT_ALLOC_HEAP(MICROPY_GC_INITIAL_HEAP_SIZE),
# 64 KB on the S3, mpconfigport.h; py/gc.c gc_try_add_heap grows it by at least its own size):
# every Python object, the weights included, lives in PSRAM, whatever size it is allocated in.
# Reads go through the data cache (ESP32-S3 TRM, EXTMEM DCACHE_CTRL: 32 or 64 KB, 16/32/64-byte
# lines). Assumed: 32-byte lines; the weights are read once a hop and evicted between hops by
# the rest of the hop's traffic, a miss per line (low: none, they stay cached; high: the
# activations and front-end buffers miss too, half again as many lines); a line fill costs
# the cycles below (octal PSRAM at 80 MHz DDR ~0.4 us; quad at 40 MHz ~1 us).
CACHE_LINE = 32
PSRAM_MISS = {"low": 0, "central": 100, "high": 250}
PSRAM_LINES = {"low": 0.0, "central": 1.0, "high": 1.5}  # x the weights' lines


# ---------------------------------------------------------------- trips per hop, from shapes
# Each entry: the viper function's loops in source order, as (entries, iterations) per call.
# Keep in step with the firmware: looptrace's instrumented run checks every number.

def _trips(fn, man, **shape):
    f = man["features"]
    if fn == "_ingest":  # the hop's samples the next frame drops, then those it keeps
        keep = f["win"] - f["hop"]
        return [(1, f["hop"] - keep), (1, keep)]
    if fn == "_window":  # the shift search (worst case: silence, max_shift steps), window
        return [(1, f["max_shift"]), (1, f["win"])]
    if fn == "_fft":  # stage 1 (real input); stages 2..; twiddles j < h (sum of h = n - 2);
        n = f["nfft"]  # butterflies n/2 per stage
        stages = int(math.log2(n))
        return [(1, n // 2), (1, stages - 1), (stages - 1, n - 2),
                (n - 2, (stages - 1) * n // 2)]
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
    straight_cycles: dict = field(default_factory=dict)  # Costs.name -> cycles per call

    def cycles(self, name):
        """Cycles per hop of the viper code alone, for one set of pipeline costs."""
        total = self.calls * self.straight_cycles.get(name, 0)
        for lp, (e, i) in zip(self.loops, self.trips):
            it, ex = lp.cycles[name]
            total += i * it + e * ex
        return total

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
            out["%s.%s" % (mod, name)] = Function(
                "%s.%s" % (mod, name), loops.straight_line(bl, lps), lps, rt,
                straight_cycles={c.name: loops.straight_cycles(bl, lps, c) for c in C.ALL})
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

def summary(man, funcs, glue=None, weights_bytes=None):
    """The figures. glue: (bytecode ops, viper calls) per hop, counted (looptrace.glue_per_hop);
    weights_bytes: the model file's size. Either left out is reported as not counted."""
    hops_per_s = man["features"]["sample_rate"] / man["features"]["hop"]
    names = [c.name for c in C.ALL]
    rows = []
    total = [0, 0, 0]
    viper = dict.fromkeys(names, 0)
    for key, f in funcs.items():
        ins, stack = f.per_hop
        cyc = {n: f.cycles(n) for n in names}
        rows.append({"function": key, "calls_per_hop": f.calls, "instructions_per_hop": ins,
                     "stack_per_hop": stack, "instructions_per_s": ins * hops_per_s,
                     "core_share": ins * hops_per_s / CLOCK_HZ,
                     "cycles_per_hop": cyc,
                     "cycle_share": cyc["central"] * hops_per_s / CLOCK_HZ,
                     "runtime_calls_per_hop": f.calls * f.runtime_calls})
        total[0] += ins
        total[1] += stack
        total[2] += f.calls * f.runtime_calls
        for n in names:
            viper[n] += cyc[n]
    loops_out = []
    for key, f in funcs.items():
        for k, lp in enumerate(f.loops):
            e, i = f.trips[k]
            loops_out.append({"loop": "%s#%d" % (key, k), "depth": lp.depth,
                              "instructions_per_trip": lp.iteration[0],
                              "cycles_per_trip": lp.cycles["central"][0],
                              "stack_per_trip": lp.iteration[1], "trips_per_hop": i,
                              "entries_per_hop": e,
                              "instructions_per_hop": f.loop_cost(k)[0]})
    ops, vcalls = glue if glue is not None else (0, 0)
    lines = math.ceil(weights_bytes / CACHE_LINE) if weights_bytes else 0
    parts = {
        "viper code": viper,
        "runtime calls": {n: total[2] * RUNTIME_CALL[n] for n in names},
        "interpreted glue": {n: round(ops * GLUE_RATIO[n] * GLUE_OP[n] + vcalls * VIPER_CALL[n])
                             for n in names},
        "PSRAM misses": {n: round(lines * PSRAM_LINES[n] * PSRAM_MISS[n]) for n in names},
    }
    cycles = {n: sum(p[n] for p in parts.values()) for n in names}
    ips = total[0] * hops_per_s
    return {"model": man.get("word"), "channels": man["channels"],
            "bands": man["features"]["bands"], "hop_s": 1 / hops_per_s,
            "clock_hz": CLOCK_HZ, "mpy_cross": mpy_cross_version(),
            "functions": rows, "loops": loops_out,
            "glue": {"ops_per_hop": ops, "viper_calls_per_hop": vcalls,
                     "counted": glue is not None},
            "weights": {"bytes": weights_bytes, "cache_lines": lines},
            "cycle_parts": parts,
            "total": {"instructions_per_hop": total[0], "stack_per_hop": total[1],
                      "instructions_per_s": ips, "core_share": ips / CLOCK_HZ,
                      "runtime_calls_per_hop": total[2],
                      "cycles_per_hop": cycles,
                      "cycle_share": {n: cycles[n] * hops_per_s / CLOCK_HZ for n in names}},
            "budget": BUDGET}


def _pct(cycles, s):
    return 100 * cycles / s["hop_s"] / s["clock_hz"]


def render(s):
    out = []
    mhz = s["clock_hz"] // 1_000_000
    out.append("Detector cost on the ESP32-S3, counted from %s -march=xtensawin" % s["mpy_cross"])
    out.append("model %s: %d channels, %d bands; one hop = %.0f ms; %d MHz core (the clock "
               "hw.esp32 sets at boot: upstream's plain ESP32_GENERIC_S3 build boots at 160)"
               % (s["model"], s["channels"], s["bands"], s["hop_s"] * 1000, mhz))
    out.append("")
    out.append("%-22s %5s %10s %10s %21s %7s" % ("function", "calls", "instr/hop", "cycles/hop",
                                               "low..high cycles", "% core"))
    for r in s["functions"]:
        c = r["cycles_per_hop"]
        out.append("%-22s %5d %10d %10d %10d..%-10d %6.1f%%" % (
            r["function"], r["calls_per_hop"], r["instructions_per_hop"], c["central"],
            c["low"], c["high"], 100 * r["cycle_share"]))
    t = s["total"]
    v = s["cycle_parts"]["viper code"]
    out.append("%-22s %5s %10d %10d %10d..%-10d %6.1f%%" % (
        "viper code", "", t["instructions_per_hop"], v["central"], v["low"], v["high"],
        _pct(v["central"], s)))
    out.append("")
    out.append("loops: instructions (cycles) per trip, stack loads/stores among them, x trips "
               "per hop")
    for lp in s["loops"]:
        out.append("  %-28s %4d (%4d) %3d stack x %6d = %9d instr" % (
            "  " * lp["depth"] + lp["loop"], lp["instructions_per_trip"], lp["cycles_per_trip"],
            lp["stack_per_trip"], lp["trips_per_hop"], lp["instructions_per_hop"]))
    out.append("")
    g = s["glue"]
    w = s["weights"]
    notes = {
        "viper code": "pipeline model: load-use, taken branches, mull, l32r",
        "runtime calls": "%d a hop x %d (%d..%d) cycles" % (
            t["runtime_calls_per_hop"], RUNTIME_CALL["central"], RUNTIME_CALL["low"],
            RUNTIME_CALL["high"]),
        "interpreted glue": ("%.0f bytecode ops x %d (%d..%d) + %.0f viper calls x %d (%d..%d)"
                             % (g["ops_per_hop"], GLUE_OP["central"], GLUE_OP["low"],
                                GLUE_OP["high"], g["viper_calls_per_hop"],
                                VIPER_CALL["central"], VIPER_CALL["low"], VIPER_CALL["high"]))
        if g["counted"] else "NOT COUNTED",
        "PSRAM misses": ("%d weight bytes = %d lines of %d B x %d (%d..%d) cycles"
                         % (w["bytes"], w["cache_lines"], CACHE_LINE, PSRAM_MISS["central"],
                            PSRAM_MISS["low"], PSRAM_MISS["high"]))
        if w["bytes"] else "NOT COUNTED",
    }
    out.append("%-18s %10s %21s %7s  %s" % ("cycles per hop", "central", "low..high", "% core",
                                           "how"))
    for part, c in s["cycle_parts"].items():
        out.append("%-18s %10d %10d..%-10d %6.1f%%  %s" % (part, c["central"], c["low"],
                                                           c["high"], _pct(c["central"], s),
                                                           notes[part]))
    c = t["cycles_per_hop"]
    out.append("%-18s %10d %10d..%-10d %6.1f%%" % ("total", c["central"], c["low"], c["high"],
                                                    _pct(c["central"], s)))
    out.append("")
    out.append("floor at 1 instruction per cycle (viper code only): %.1f%% of a %d MHz core"
               % (100 * t["core_share"], mhz))
    share = t["cycle_share"]["central"]
    verdict = "within" if share <= s["budget"] else "OVER by %.1f points" % (
        100 * (share - s["budget"]))
    out.append("budget %.0f%% of a core: %s" % (100 * s["budget"], verdict))
    return "\n".join(out)


def last_lines(s):
    """The range, then the one line the bench ends with."""
    t = s["total"]["cycle_share"]
    mhz = s["clock_hz"] // 1_000_000
    return ["cycle estimate range: %.1f%% .. %.1f%% of a %d MHz core (low .. high assumptions)"
            % (100 * t["low"], 100 * t["high"], mhz),
            "detector: %d%% of a %d MHz core (cycle estimate)" % (round(100 * t["central"]), mhz)]


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
    s = summary(man, funcs, glue=glue(model_path, manifest_path),
                weights_bytes=Path(model_path).stat().st_size)
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
    print("\n".join(last_lines(s)))
    return 0


def glue(model_path, manifest_path, seconds=0.2):
    """(bytecode ops, viper calls) per hop of the interpreted glue, counted on silence."""
    import numpy as np

    from . import looptrace

    man = json.loads(Path(manifest_path).read_text())
    pcm = np.zeros(int(seconds * man["features"]["sample_rate"]), np.int16)
    return looptrace.glue_per_hop(model_path, manifest_path, pcm)


if __name__ == "__main__":
    sys.exit(main())
