"""The CPU clock: upstream's plain ESP32_GENERIC_S3 build boots at 160 MHz; the firmware sets 240.

The fakes start where upstream does (tests/fakes_mpy/fake_machine.py, the virtual board's
machine in host_tools/sim/rt/vboard.py): 160 MHz until machine.freq(hz) sets another clock.
"""

from tests.test_boards import run_hw


def test_the_esp32_hardware_layer_sets_240_mhz_at_boot_and_reads_it_back():
    out = run_hw("""
print(M.freq())
hw = hw_esp32.Hardware(board("esp32-s3-devkitc-1-inmp441"))
print(M.freq(), hw.cpu_hz, [e for e in M.LOG if e[0] == "freq"])
""")
    assert out.splitlines() == ["160000000", "240000000 240000000 [('freq', 240000000)]"]


def test_a_clock_the_port_refuses_is_reported_as_the_clock_in_force():
    out = run_hw("""
from earshot.hw import set_clock
print(set_clock(M, 100_000_000))
""", notes=True)
    assert out.strip() == ("(160000000, \"earshot: CPU stays at 160 MHz: machine.freq raised "
                           "ValueError('frequency must be 20MHz, 40MHz, 80Mhz, 160MHz or "
                           "240MHz',)\")")


def test_the_virtual_board_boots_at_240_mhz_and_says_so_in_status_and_log(firmware_image,
                                                                          tmp_path):
    from host_tools.hil.fixtures import boot_board, connect
    from tests.test_board_faults import log_entries

    with boot_board(firmware_image, tmp_path) as board:
        board.wait_booted()
        client = connect(board.port)
        try:
            assert client.command("status")["cpu_mhz"] == 240
            boots = [e for e in log_entries(client) if e.kind == "boot"]
            assert boots[-1].fields["mhz"] == 240
        finally:
            client.close()
