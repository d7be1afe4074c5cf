"""The virtual board behaves like a board on a USB port: mpremote, pyserial, resets, power."""

import subprocess
import sys
import time

import pytest
import serial

from host_tools.sim import VirtualBoard


def mpremote(port, *args, timeout=30):
    return subprocess.run([sys.executable, "-m", "mpremote", "connect", port, *args],
                          capture_output=True, text=True, timeout=timeout)


@pytest.fixture
def bare(tmp_path):
    """A virtual board with an empty flash: just MicroPython and its REPL."""
    with VirtualBoard(flash_dir=tmp_path / "flash") as b:
        b.wait_booted()
        yield b


def test_mpremote_exec_fs_and_reset_work_unchanged(bare, tmp_path):
    r = mpremote(bare.port, "exec", "print(6*7)")
    assert r.returncode == 0 and r.stdout.strip() == "42"
    src = tmp_path / "hello.py"
    src.write_text("x = 1\n")
    assert mpremote(bare.port, "fs", "cp", str(src), ":hello.py").returncode == 0
    assert (bare.flash_dir / "hello.py").read_text() == "x = 1\n"
    ls = mpremote(bare.port, "fs", "ls", "/")
    assert "hello.py" in ls.stdout
    boots = bare.boots
    assert mpremote(bare.port, "reset").returncode == 0
    deadline = time.monotonic() + 60  # a generous host bound: the reboot takes what it takes
    while bare.boots == boots and time.monotonic() < deadline:
        time.sleep(0.05)
    assert bare.boots > boots
    r = mpremote(bare.port, "exec", "import os; print(os.listdir('/'))")
    assert "hello.py" in r.stdout  # flash persists across resets


def test_exceptions_come_back_as_errors_through_mpremote(bare):
    r = mpremote(bare.port, "exec", "1/0")
    assert r.returncode == 1 and "ZeroDivisionError" in r.stdout + r.stderr


def test_ctrl_c_interrupts_running_main_and_soft_reset_runs_boot_then_main(tmp_path):
    flash = tmp_path / "flash"
    flash.mkdir()
    (flash / "boot.py").write_text("print('boot ran')\n")
    (flash / "main.py").write_text("print('main ran')\nwhile True:\n    pass\n")
    with VirtualBoard(flash_dir=flash) as b, serial.Serial(b.port, timeout=0.2) as s:
        time.sleep(1.0)
        s.reset_input_buffer()
        s.write(b"\x03")
        out = _read_until(s, b">>> ")
        assert b"KeyboardInterrupt" in out
        s.write(b"\x04")  # Ctrl-D in the friendly REPL: soft reset
        out = _read_until(s, b"main ran")
        assert b"soft reboot" in out and out.index(b"boot ran") < out.index(b"main ran")


def test_raw_repl_over_plain_pyserial(bare):
    with serial.Serial(bare.port, timeout=0.2) as s:
        s.write(b"\r\x03\r\x01")
        _read_until(s, b"raw REPL; CTRL-B to exit\r\n>")
        s.write(b"print('hi')\x04")
        out = _read_until(s, b"\x04\x04>")
        assert out.startswith(b"OK") and b"hi" in out


def test_heap_is_limited_like_a_board_without_psram(tmp_path):
    # 96K: the runtime itself (rt/vboard.py, with the speaker and clock models) takes
    # most of 64K; 100 000 bytes still cannot fit, 10 000 still can.
    with VirtualBoard(flash_dir=tmp_path / "f", heap="96K") as b:
        b.wait_booted()
        r = mpremote(b.port, "exec", "x = bytearray(100_000)")
        assert "MemoryError" in r.stdout + r.stderr
        r = mpremote(b.port, "exec", "x = bytearray(10_000); print(len(x))")
        assert r.stdout.strip() == "10000"


def test_power_cut_kills_the_board_and_power_on_boots_it_again(bare):
    assert mpremote(bare.port, "exec", "print(1)").returncode == 0
    bare.power_cut()
    assert bare.pins()["mute_led"] == 0 and bare.pins()["mic_power"] == 0  # no power at all
    bare.power_on()
    bare.wait_booted()
    assert bare.pins() == {"mute_led": 1, "mic_power": 0, "status_led": (0, 0, 0)}
    assert mpremote(bare.port, "exec", "print(2)").stdout.strip() == "2"


def test_en_held_low_stops_the_chip_and_its_release_boots_it_once(bare):
    # A rig's reset line (EN): while held the chip runs nothing and its pins show their reset
    # state; released, MicroPython starts once, as after the reset button (not a power-on).
    boots = bare.boots
    bare.hold_in_reset(True)
    time.sleep(0.5)  # a supervisor that took the stop for a crash would have restarted it
    assert bare.boots == boots and bare.in_reset
    assert bare.pins()["mute_led"] == 1 and bare.pins()["mic_power"] == 0
    with pytest.raises(subprocess.TimeoutExpired):  # nothing answers on the port
        mpremote(bare.port, "exec", "print(1)", timeout=3)
    bare.hold_in_reset(False)
    bare.wait_booted()
    time.sleep(0.5)
    assert bare.boots == boots + 1 and not bare.in_reset
    assert mpremote(bare.port, "exec", "print(2)").stdout.strip() == "2"


def test_a_logic_analyser_view_records_button_edges_and_pin_changes(board, client):
    since = board.probe_time()  # the firmware is running (client): past its boot gesture
    board.press("mute", seconds=0.1)
    edges = board.edges(since)
    presses = [(name, v) for _, name, v in edges if name == "mute"]
    assert presses == [("mute", 1), ("mute", 0)]
    t_release = [t for t, name, v in edges if name == "mute" and v == 0][0]
    t_mic = [t for t, name, v in edges if name == "mic_power" and v == 1][0]
    assert 0 <= t_mic - t_release <= 0.02 + 1e-6  # unmuted on the frame after the release


def test_buttons_and_audio_clock_are_scriptable(board):
    # Board time follows consumed audio: 3 s of audio is 3 s of board time, however long the
    # PC took (how much faster than real time it runs is a benchmark's: make soak reports it).
    t0 = board.time_s
    end = board.play(bytes(16000 * 2 * 3))
    board.wait_audio_done()
    assert board.time_s >= t0 + 3 - 0.05 and end >= t0 + 3 - 0.05
    board.hold("mute")
    assert board.buttons() == {"mute": True, "action": False}
    board.release("mute")
    assert board.buttons() == {"mute": False, "action": False}


def test_earshot_sim_prints_its_port_first_and_keeps_a_link(tmp_path):
    link = tmp_path / "board"
    proc = subprocess.Popen([sys.executable, "-m", "host_tools.cli", "sim", "--erase",
                             "--flash", str(tmp_path / "f"), "--link", str(link)],
                            stdout=subprocess.PIPE, text=True)
    try:
        first = proc.stdout.readline()
        assert first.startswith("serial: /dev/pts/")
        assert link.is_symlink() and str(link.resolve()) == first.split()[1]
        r = mpremote(str(link), "exec", "print('via link')")
        assert r.stdout.strip() == "via link"
    finally:
        proc.terminate()
        proc.wait(10)


def _read_until(s, marker, timeout=10):
    buf = b""
    deadline = time.monotonic() + timeout
    while marker not in buf:
        if time.monotonic() > deadline:
            raise AssertionError("no %r in %r" % (marker, buf[-300:]))
        buf += s.read(256)
    return buf


def test_advance_on_a_board_that_reads_no_audio_leaves_nothing_queued(bare):
    # advance() queues its silence like a recording; bare MicroPython never reads the
    # microphone, so the board time never comes, and that silence must not wait in front of
    # the next sound played.
    assert bare.advance(2.0, timeout=0.3) is False
    assert bare.world.queued_seconds() == 0
