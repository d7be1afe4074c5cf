# The wire between the two halves of the virtual board, one copy for both sides.
#
#   board side (MicroPython Unix port)          host side (CPython)
#   firmware/earshot/hw/virtual.py  --socket--  world.py   the physical world: mic, buttons, pins
#   rt/vboard.py (its ROM and pyexec) --exit--  board.py   the supervisor: resets, power
#
# Plain assignments only: rt/vboard.py imports this file inside MicroPython, the host imports
# it as host_tools.sim.wire. The firmware cannot import host code, so tests/test_sim_wire.py
# checks firmware/earshot/hw/virtual.py and firmware/earshot/hw/__init__.py against it.

# -- audio: board time is the audio clock ------------------------------------------------------
RATE = 16000  # Hz, int16 mono
FRAME_SAMPLES = 320  # one frame = 20 ms
FRAME_BYTES = 640

# -- socket opcodes, firmware -> world (one byte each) -----------------------------------------
OP_FRAME = b"F"  # read one frame; reply: FRAME_HEADER (below) + FRAME_BYTES of PCM
# The frame reply's header, struct "<BHHI": buttons u8 (the mute bit is the latched switch's
# level on a board whose mute is a switch), samples the I2S DMA dropped before this frame u16,
# samples still waiting in the DMA buffer after it u16, board time in ms u32 (ticks_ms: it
# wraps at TICKS_PERIOD).
FRAME_HEADER = 9
OP_PIN = b"P"  # id u8, r, g, b u8: an output pin changed; reply ACK
OP_WDT_START = b"W"  # timeout_ms u32 LE
OP_WDT_FEED = b"w"
OP_WDT_STOP = b"D"  # after Ctrl-C only
OP_BOOTED = b"B"  # mode u8 (BOOT_FRIENDLY / BOOT_RAW); reply BOOT_OK
OP_KBD_INTR = b"K"  # char u8 (KBD_INTR_OFF = -1): mp_interrupt_char changed; reply ACK for -1
KBD_INTR_OFF = 0xFF
OP_SERIAL = b"S"  # nbytes u32: the firmware writes nbytes to its serial port (costs board time);
# reply: delivered u32 (how many the host gets; the firmware writes only those), blocked_us u32
OP_CONSOLE = b"U"  # baud u32, wake_ms u8: UART0's baud rate and the serial wake timer (0: off);
# reply i32 LE: 0, or the esp_err_t machine.UART raises after setting the rate (on the REPL
# UART upstream always raises ESP_ERR_INVALID_STATE: serial_line.REPL_UART_ERROR)
OP_FLASH = b"C"  # kind u8 (FLASH_*), erases u32, nbytes u32: a filesystem write; reply ACK
FLASH_PROGRAM = b"p"  # a file write: `erases` blocks erased, `nbytes` bytes programmed
FLASH_META = b"m"  # a close, rename or remove: one metadata commit
OP_SPEAKER = b"O"  # FRAME_BYTES of PCM: one frame the firmware played on its speaker
OP_CLOCK = b"Z"  # hz u32: machine.freq(hz) set the CPU clock; reply ACK. A chip reset goes back
# to BOOT_CPU_HZ, a soft reset keeps it (ENV_CPU_HZ): the clock is the chip's, not the VM's
BOOT_CPU_HZ = 160_000_000  # ESP-IDF's default: upstream's plain ESP32_GENERIC_S3 build
ACK = b"A"  # the pin change (or the interrupt char -1) is applied
BOOT_FRIENDLY = b"F"
BOOT_RAW = b"R"
BOOT_OK = b"O"

# -- output pins (OP_PIN ids) and buttons (the mask in a frame reply) --------------------------
PIN_MUTE_LED = 0
PIN_MIC_POWER = 1
PIN_STATUS_LED = 2
PIN_SPEAKER_AMP = 3  # the speaker amplifier's enable line (boards with a speaker)
BUTTON_MUTE = 1  # = earshot.hw.BUTTON_MUTE
BUTTON_ACTION = 2  # = earshot.hw.BUTTON_ACTION

# -- how the MicroPython process ends (its exit status) -----------------------------------------
EXIT_SOFT_RAW = 10  # soft reset while in the raw REPL: boot.py only, then raw REPL
EXIT_SOFT_FRIENDLY = 11  # soft reset from the friendly REPL: boot.py, main.py, REPL
EXIT_HARD = 12  # machine.reset(): like pressing the reset button
EXIT_BOOTLOADER = 13  # machine.bootloader(): the ROM serial download mode

# -- machine.reset_cause() values (MicroPython's esp32 port, machine.PWRON_RESET ...) -----------
PWRON_RESET = 1
HARD_RESET = 2
WDT_RESET = 3
DEEPSLEEP_RESET = 4
SOFT_RESET = 5

# The reset reason the chip itself records (esp-idf components/soc/esp32s3/include/soc/
# reset_reasons.h). A brown-out with IDF 5.x defaults (CONFIG_ESP_BROWNOUT_USE_INTR) is handled
# by rtc_brownout_isr_handler (components/esp_hw_support/power_supply/brownout.c), which sets the
# hint ESP_RST_BROWNOUT and calls esp_rom_software_reset_system(): the chip records
# RESET_REASON_CORE_SW (0x03), and esp_reset_reason() returns the hint (components/esp_system/
# port/soc/esp32s3/reset_reason.c); only a brown-out the detector resets in hardware records
# RESET_REASON_SYS_BROWN_OUT (0x0F). machine.reset_cause() reports both as PWRON_RESET.
CHIP_POWERON = 1
CHIP_CORE_SW = 3
CHIP_BROWN_OUT = 15

# ticks_ms() wraps here on the board (py/mpconfig.h MICROPY_PY_TIME_TICKS_PERIOD =
# MP_SMALL_INT_POSITIVE_MASK + 1: 2**30 with 31-bit small ints on the ESP32-S3).
TICKS_PERIOD = 1 << 30

# -- environment the supervisor gives each MicroPython process ----------------------------------
ENV_FLASH = "EARSHOT_FLASH"  # directory mounted at /
ENV_MODE = "EARSHOT_MODE"  # "friendly" or "raw"
ENV_SOCK = "EARSHOT_SIM_SOCK"  # the world's Unix socket
ENV_RESET_CAUSE = "EARSHOT_RESET_CAUSE"
ENV_MAC = "EARSHOT_MAC"
ENV_CHIP_RESET = "EARSHOT_CHIP_RESET"  # the chip's own reset reason (CHIP_*)
# Set for one start: a Ctrl-C lands as the firmware first turns Ctrl-C off (rt/pending_ctrl_c.py)
ENV_CTRL_C_PENDING = "EARSHOT_CTRL_C_PENDING"
ENV_CPU_HZ = "EARSHOT_CPU_HZ"  # the CPU clock the process starts at (OP_CLOCK)
