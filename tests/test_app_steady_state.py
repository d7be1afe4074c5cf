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
    def speaker(self): return None
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
""" % (str(models_dir() / "alexa"), str(tmp_path)), heap="320K")
    alloc, gate, mic = out.split("ALLOC")[1].split()
    assert gate == "0" and mic == "1"  # listening, mic on, nothing fired on noise
    assert int(alloc) == 0, "%s bytes allocated in 250 frames of listening" % alloc


def test_a_pre_roll_session_sends_at_most_one_chunk_per_frame(tmp_path):
    # Writing to the serial line blocks the loop (docs/protocol.md, serial budget): the 0.5 s
    # pre-roll must drain a chunk per frame at most, never in a burst, whatever the consent.
    out = run_mpy(FAKE_HW + r"""
from earshot import store
from earshot.app import App
data = %r
store.save(data + "/identity.json", {"device_id": "t", "key": "11" * 32})
store.save(data + "/state.json", {"muted": False, "consent": {"flags": 31, "guest": False}})
class Counting(FakeHardware):
    def __init__(self):
        super().__init__()
        self.chunks = 0
        self.press = False
    def serial_write(self, data):
        if bytes(data[:4]) == b"\xe5\x5e\x01\x11" and data[8] == 0x43:  # a chunk of audio (a 37-byte gap record is none)
            self.chunks += 1
    def buttons(self):
        return 2 if self.press else 0
hw = Counting()
app = App(hw, data=data)
assert not app.mute.muted and app.consent.allows_preroll()
for i in range(40):  # 0.8 s of listening: the pre-roll ring is full
    app.step()
hw.press = True; app.step(); hw.press = False  # push-to-talk on release
per_frame = []
for i in range(60):
    before = hw.chunks
    app.step()
    per_frame.append(hw.chunks - before)
print("MAX", max(per_frame), "SENT", sum(per_frame), app.gate.state)
""" % str(tmp_path), heap="320K")
    line = out.split("MAX")[1].split()
    assert int(line[0]) == 1, out
    assert int(line[2]) >= 10  # the pre-roll (5 chunks) and live audio went out meanwhile
