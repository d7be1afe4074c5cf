"""The wake-word pipeline's real share of a board's CPU, measured on the board.

Interrupts the firmware (as mpremote does), feeds the deployed detector a fixed pseudo-random
signal on the board itself, times it with time.ticks_us, and restarts the firmware.
"""

import subprocess
import sys

from ..errors import EarshotError

FRAMES = 250  # 5 s of audio

_ON_BOARD = """
import os, time, gc, sys
from earshot.wakeword import Detector
names = sorted(n[:-5] for n in os.listdir('/models') if n.endswith('.json'))
base = '/models/' + (%(model)r or names[0])
d = Detector(base + '.bin', base + '.json')
buf = bytearray(640)
x = 12345
for i in range(0, 640, 2):
    x = (x * 1103515245 + 12345) & 0x7fffffff
    v = (x >> 16) & 0x0fff
    buf[i] = v & 255
    buf[i + 1] = v >> 8
gc.collect()
free = gc.mem_free()
t = time.ticks_us()
for i in range(%(frames)d):
    d.feed(buf)
dt = time.ticks_diff(time.ticks_us(), t)
print('BENCH', dt, %(frames)d, free - gc.mem_free(), sys.platform, d.word)
"""


def bench(port, model=None, frames=FRAMES):
    code = _ON_BOARD % {"model": model, "frames": frames}
    proc = subprocess.run([sys.executable, "-m", "mpremote", "connect", port, "exec", code,
                           "+", "soft-reset"], capture_output=True, text=True, timeout=300)
    line = next((l for l in proc.stdout.splitlines() if l.startswith("BENCH")), None)
    if proc.returncode or not line:
        last = (proc.stdout + proc.stderr).strip().splitlines()[-1:] or ["no output"]
        raise EarshotError("benchmark failed on %s: %s (is the firmware deployed with a model?)"
                           % (port, last[0]))
    _, us, n, alloc, platform, word = line.split()
    audio_us = int(n) * 20000
    return {"port": port, "platform": platform, "model": word, "frames": int(n),
            "us_per_audio_s": int(us) * 1e6 / audio_us, "core_share": int(us) / audio_us,
            "bytes_allocated": int(alloc)}
