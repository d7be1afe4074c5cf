"""The firmware's per-frame loop, in the MicroPython Unix port with a fake hardware layer:
listening with the wake word allocates nothing per frame (no GC pauses on the board)."""

from host_tools.resources import models_dir
from tests.mpy import run_mpy

FAKE_HW = r"""
class FakeHardware:
    FRAME_SAMPLES = 320
    def __init__(self):
        self.board = {"id": "fake"}
        self.t = 0
        self.x = 1
        self.pins = {}
    def mic_start(self): self.pins["mic_power"] = 1
    def mic_stop(self): self.pins["mic_power"] = 0
    def read_frame(self, buf):
        self.t += 20
        x = self.x
        for i in range(0, 640, 2):
            x = (x * 1103515245 + 12345) & 0x7fffffff
            buf[i] = x & 255
            buf[i + 1] = (x >> 8) & 7
        self.x = x
        return 0
    def set_mute_led(self, on): self.pins["mute_led"] = on
    def set_status_led(self, r, g, b): pass
    def buttons(self): return 0
    def hardware_muted(self): return False
    def backlog(self): return 0
    def ticks_ms(self): return self.t
    def ticks_diff(self, a, b): return ((a - b + 0x20000000) & 0x3FFFFFFF) - 0x20000000
    def ticks_add(self, t, d): return (t + d) & 0x3FFFFFFF
    def wdt_start(self, ms): pass
    def wdt_feed(self): pass
    def serial_read(self, buf): return 0
    def serial_write(self, data): pass
    def urandom(self, n): return bytes(n)
    def fail_safe(self): self.mic_stop(); self.set_mute_led(True)
"""


def test_listening_loop_allocates_nothing_per_frame(tmp_path):
    out = run_mpy(FAKE_HW + r"""
import gc
from earshot.app import App
from earshot.wakeword import Detector
base = %r
hw = FakeHardware()
app = App(hw, detector=Detector(base + ".bin", base + ".json"), data=%r)
app.mute.apply(False, "test")
for i in range(100):   # warm up: first-time allocations are fine
    app.step()
gc.collect()
gc.disable()
before = gc.mem_alloc()
for i in range(250):   # 5 s of listening
    app.step()
print("ALLOC", gc.mem_alloc() - before, app.gate.state, hw.pins["mic_power"])
""" % (str(models_dir() / "alexa"), str(tmp_path)), heap="256K")
    alloc, gate, mic = out.split("ALLOC")[1].split()
    assert gate == "0" and mic == "1"  # listening, mic on, nothing fired on noise
    assert int(alloc) == 0, "%s bytes allocated in 250 frames of listening" % alloc
