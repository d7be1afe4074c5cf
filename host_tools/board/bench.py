"""The wake-word pipeline's real share of a board's CPU, measured on the board.

Interrupts the firmware (as mpremote does), feeds the deployed detector a fixed pseudo-random
signal on the board itself, times it with time.ticks_us, then resets the board so the firmware
runs again. The share is of the clock the board runs at, read there (machine.freq(): what the
firmware's hw layer set at boot, 240 MHz, unless the port refused it). A reset, not a soft reset: after mpremote's raw REPL a soft reset runs boot.py
only, because MicroPython runs main.py only in the friendly REPL (ports/esp32/main.c,
mp_task: `if (pyexec_mode_kind == PYEXEC_MODE_FRIENDLY_REPL) pyexec_file_if_exists("main.py")`).
"""

import json
import subprocess
import sys

from ..errors import EarshotError

FRAMES = 250  # 5 s of audio

_ON_BOARD = """
import os, time, gc, sys, json
from earshot.wakeword import Detector, chosen
try:
    import machine
    hz = machine.freq()
except (ImportError, AttributeError):
    hz = 0
try:
    names = sorted(n[:-5] for n in os.listdir('/models') if n.endswith('.json'))
except OSError:
    names = []
want = %(model)r or (chosen('/models') or '/').split('/')[-1]
if not names or (want and want not in names):
    print('BENCH_ERR', json.dumps(names))
else:
    base = '/models/' + (want or names[0])
    d = Detector(base + '.bin', base + '.json')
    buf = bytearray(640)
    x = 12345
    for i in range(0, 640, 2):
        x = (x * 1103515245 + 12345) & 0x7fffffff
        v = (x >> 16) & 0x0fff
        buf[i] = v & 255
        buf[i + 1] = v >> 8
    t = dt = alloc = 0  # every global exists before measuring: a growing globals dict allocates
    gc.collect()
    free = gc.mem_free()
    t = time.ticks_us()
    for i in range(%(frames)d):
        d.feed(buf)
    dt = time.ticks_diff(time.ticks_us(), t)
    alloc = free - gc.mem_free()
    print('BENCH', json.dumps({'us': dt, 'frames': %(frames)d, 'alloc': alloc,
                               'platform': sys.platform, 'model': d.word, 'hz': hz}))
"""


def bench(port, model=None, frames=FRAMES, progress=None):
    """Time the detector on the board at `port`; the firmware runs again afterwards."""
    from .deploy import wait_for_firmware

    say = progress or (lambda msg: None)
    code = _ON_BOARD % {"model": model, "frames": frames}
    say("timing the detector on %s (%d frames of audio)" % (port, frames))
    proc = subprocess.run([sys.executable, "-m", "mpremote", "connect", port, "exec", code,
                           "+", "reset"], capture_output=True, text=True, timeout=300)
    lines = proc.stdout.splitlines()
    result = next((l.split(" ", 1)[1] for l in lines if l.startswith("BENCH ")), None)
    missing = next((l.split(" ", 1)[1] for l in lines if l.startswith("BENCH_ERR ")), None)
    say("restarting the firmware")
    wait_for_firmware(port, say, expect_version=None)
    if missing is not None:
        have = json.loads(missing)
        raise EarshotError("no model %r on %s (it has: %s): earshot deploy puts the shipped "
                           "models there" % (model, port, ", ".join(have) or "none"))
    if proc.returncode or not result:
        last = (proc.stdout + proc.stderr).strip().splitlines()[-1:] or ["no output"]
        raise EarshotError("benchmark failed on %s: %s (is the firmware deployed with a model?)"
                           % (port, last[0]))
    r = json.loads(result)
    audio_us = r["frames"] * 20000
    return {"port": port, "platform": r["platform"], "model": r["model"], "frames": r["frames"],
            "us_per_audio_s": r["us"] * 1e6 / audio_us, "core_share": r["us"] / audio_us,
            "bytes_allocated": r["alloc"], "cpu_mhz": r.get("hz", 0) // 1_000_000}
