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
OP_FRAME = b"F"  # read one frame; reply: buttons u8 + FRAME_BYTES of PCM
OP_PIN = b"P"  # id u8, r, g, b u8: an output pin changed; reply ACK
OP_WDT_START = b"W"  # timeout_ms u32 LE
OP_WDT_FEED = b"w"
OP_WDT_STOP = b"D"  # after Ctrl-C only
OP_BOOTED = b"B"  # mode u8 (BOOT_FRIENDLY / BOOT_RAW); reply BOOT_INTERRUPTED or BOOT_OK
ACK = b"A"  # the pin change is applied
BOOT_FRIENDLY = b"F"
BOOT_RAW = b"R"
BOOT_INTERRUPTED = b"I"  # a Ctrl-C came during start-up: skip main.py
BOOT_OK = b"O"

# -- output pins (OP_PIN ids) and buttons (the mask in a frame reply) --------------------------
PIN_MUTE_LED = 0
PIN_MIC_POWER = 1
PIN_STATUS_LED = 2
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

# -- environment the supervisor gives each MicroPython process ----------------------------------
ENV_FLASH = "EARSHOT_FLASH"  # directory mounted at /
ENV_MODE = "EARSHOT_MODE"  # "friendly" or "raw"
ENV_SOCK = "EARSHOT_SIM_SOCK"  # the world's Unix socket
ENV_RESET_CAUSE = "EARSHOT_RESET_CAUSE"
ENV_MAC = "EARSHOT_MAC"
