# The hardware layer's front door. Every other firmware module receives the object
# returned by open_hardware(); none of them imports `machine`.
#
# Interface every hardware implementation provides (hw.esp32.Hardware, hw.virtual.Hardware):
#
#   FRAME_SAMPLES            samples per audio frame (320 = 20 ms at 16 kHz)
#   board                    dict: the board file (boards/<name>.json) as deployed to /board.json
#   mic_start()              power the microphone (mic-power pin if the board has one), start I2S
#   mic_stop()               stop I2S, power the microphone down; must not raise
#   read_frame(buf)          fill bytearray(FRAME_SAMPLES*2) with int16 LE mono PCM at 16 kHz;
#                            blocks about one frame period; while the mic is stopped it waits one
#                            frame period and zero-fills buf (time still passes)
#   set_mute_led(on)         the mute LED
#   set_status_led(r, g, b)  the status LED colour, 0-255 each
#   buttons()                bitmask of pressed buttons: BUTTON_MUTE | BUTTON_ACTION
#   ticks_ms()               board time in ms (the virtual board follows its audio clock)
#   wdt_start(ms) / wdt_feed()  hardware watchdog (a reset leaves the mic off: boot is muted)
#   wdt_stop()               best effort, after Ctrl-C only: a developer at the REPL must not be
#                            reset mid-deploy (the ESP32 cannot stop it: longest timeout instead)
#   reset_cause()            1 power-on, 2 hard reset, 3 watchdog, 4 deep sleep, 5 soft reset
#   serial_read(buf) -> n    non-blocking: copy bytes waiting from the host into buf
#   serial_write(data)       write bytes to the host (the USB serial the REPL also uses)
#   urandom(n) -> bytes      n random bytes
#   fail_safe()              mic off and mute LED on, from any state; never raises
#
# and one module-level function: reset_board() resets the chip (machine.reset()), for the
# locked main.py, which must never fall through to the REPL.

BUTTON_MUTE = 1
BUTTON_ACTION = 2

# Board files name their hardware implementation; differences between boards are data.
_HALS = {"esp32": "earshot.hw.esp32", "virtual": "earshot.hw.virtual"}


def reset_board():
    """Reset the chip now (machine.reset()); the next boot is muted, as after any reset."""
    import machine

    machine.reset()


def load_board(path="/board.json"):
    import json

    with open(path) as f:
        return json.load(f)


def open_hardware(board):
    name = _HALS.get(board.get("hal"))
    if name is None:
        raise ValueError("board file names unknown hal %r" % board.get("hal"))
    module = __import__(name, None, None, ["Hardware"])
    return module.Hardware(board)
