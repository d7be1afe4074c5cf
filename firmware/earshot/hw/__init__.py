# The hardware layer's front door. Every other firmware module receives the object
# returned by open_hardware(); none of them imports `machine`.
#
# Interface every hardware implementation provides (hw.esp32.Hardware, hw.virtual.Hardware):
#
#   FRAME_SAMPLES            samples per audio frame (320 = 20 ms at 16 kHz)
#   board                    dict: the board file (boards/<name>.json) as deployed to /board.json
#   mic_start()              power the microphone (mic-power pin if the board has one), start I2S
#                            (and configure a codec from scratch); raises OSError (e.g.
#                            NotSupportedError) when this board's microphone cannot start
#   mic_stop()               stop I2S, power the microphone down; must not raise
#   read_frame(buf) -> lost  fill bytearray(FRAME_SAMPLES*2) with int16 LE mono PCM at 16 kHz;
#                            blocks until the frame's samples have arrived; returns how many
#                            samples the I2S DMA buffer dropped before this frame because the
#                            loop was late (0 normally). While the mic is stopped it waits one
#                            frame period and zero-fills buf (time still passes)
#   backlog()                samples already waiting in the DMA buffer after the last read
#                            (0: the loop is on time; the DMA holds ibuf / 8 samples at most)
#   set_mute_led(on)         the mute LED
#   set_status_led(r, g, b)  the status LED colour, 0-255 each
#   buttons()                bitmask of pressed buttons: BUTTON_MUTE | BUTTON_ACTION
#   hardware_muted()         True while a latched mute switch (board file buttons.mute
#                            "kind": "switch") is at "mute"; always False for a mute button
#   ticks_ms()               board time in ms; wraps at TICKS_PERIOD like time.ticks_ms()
#   ticks_diff(a, b)         signed a - b across the wrap (time.ticks_diff semantics)
#   ticks_add(t, delta)      t + delta, wrapped (time.ticks_add semantics)
#   wdt_start(ms) / wdt_feed()  hardware watchdog (a reset leaves the mic off: boot is muted)
#   wdt_stop()               best effort, after Ctrl-C only: a developer at the REPL must not be
#                            reset mid-deploy (the ESP32 cannot stop it: longest timeout instead)
#   reset_cause()            1 power-on, 2 hard reset, 3 watchdog, 4 deep sleep, 5 soft reset,
#                            6 brown-out (see reset_cause_from)
#   serial_read(buf) -> n    non-blocking: copy bytes waiting from the host into buf
#   serial_write(data) -> n  write bytes to the host (the USB serial the REPL also uses);
#                            blocks as long as the console driver does; n < len(data): the host
#                            is not reading (see host_took), what it got of data is unknown
#   urandom(n) -> bytes      n random bytes
#   chip_id                  this chip's id as hex (machine.unique_id(): the base MAC from
#                            eFuse), so a host can tell two boards given one device id apart
#   cpu_hz                   the CPU clock the board runs at, read back after boot set it
#                            (set_clock); 0 when the build cannot tell
#   fail_safe()              mic off and mute LED on, from any state; never raises
#   speaker()                the speaker driver (start(), write(frame of FRAME_SAMPLES int16
#                            mono at 16 kHz), stop(); start() raises OSError such as
#                            NotSupportedError), or None: board file "speaker", absent or
#                            "fitted": false
#
# and one module-level function: reset_board() resets the chip (machine.reset()), for the
# locked main.py, which must never fall through to the REPL.

BUTTON_MUTE = 1
BUTTON_ACTION = 2


class NotSupportedError(OSError):  # the board needs what this MicroPython build lacks
    pass


# Quirk: upstream machine.I2S has no PDM RX mode (micropython PR #14176 adds one, unmerged), and
# an I2S-mode read of a PDM bitstream is noise, so a PDM microphone is refused, not misread.
NO_PDM = ("this MicroPython build's machine.I2S has no PDM RX mode; the PDM microphone stays "
          "off, see docs/boards.md")

PWRON_RESET = 1
BROWNOUT_RESET = 6
# ticks_ms() wraps here on the ESP32-S3: py/mpconfig.h defines MICROPY_PY_TIME_TICKS_PERIOD as
# MP_SMALL_INT_POSITIVE_MASK + 1, i.e. 2**30 ms (12.4 days) with 31-bit small ints.
TICKS_PERIOD = 1 << 30
# The chip's own reset reason for a clean power-on: esp-idf components/soc/esp32s3/include/soc/
# reset_reasons.h RESET_REASON_CHIP_POWER_ON (0x01), the RTC_CNTL_RESET_CAUSE_PROCPU field.
_CHIP_POWER_ON = 1

# Board files name their hardware implementation; differences between boards are data.
_HALS = {"esp32": "earshot.hw.esp32", "virtual": "earshot.hw.virtual"}


def reset_cause_from(cause, chip_reason):
    """The hw reset cause from machine.reset_cause() (in hw numbering) and the chip's reason.

    Upstream reports a brown-out as a power-on (ports/esp32/modmachine.c, mp_machine_reset_cause
    maps ESP_RST_BROWNOUT to MP_PWRON_RESET), and with IDF 5.x defaults the brown-out interrupt
    resets through esp_rom_software_reset_system() (components/esp_hw_support/power_supply/
    brownout.c, rtc_brownout_isr_handler), so the chip records 3 (RESET_REASON_CORE_SW), not 15
    (RESET_REASON_SYS_BROWN_OUT, the detector's own reset). esp_reset_reason() maps only chip
    reason 1 to ESP_RST_POWERON (components/esp_system/port/soc/esp32s3/reset_reason.c), so a
    "power-on" whose chip reason is anything else was a brown-out (or an unreadable reason):
    it fails closed and must not count as the clean power-on that may restore "unmuted".
    """
    if cause == PWRON_RESET and chip_reason != _CHIP_POWER_ON:
        return BROWNOUT_RESET
    return cause


def console_settings(board):
    """(UART0 baud rate, wake timer period in ms) the board file asks for; (0, 0) for none."""
    c = board.get("console") or {}
    return c.get("uart_baud", 0), c.get("wake_ms", 0)


# check_esp_err (ports/esp32/mphalport.c) raises OSError(-code, name) for an esp_err_t.
ESP_ERR_INVALID_STATE = -0x103


def console_rate_note(baud, error):
    """(rate in force, the line to print) after machine.UART(0, baudrate=baud) raised `error`.

    Quirk: on the REPL UART upstream's init_helper (ports/esp32/machine_uart.c) skips the driver
    install, calls uart_set_baudrate (the rate changes here), then uart_set_rx_full_threshold,
    which returns ESP_ERR_INVALID_STATE without an installed driver (esp-idf
    components/esp_driver_uart/src/uart.c: "call uart_driver_install API first"). So that
    error means the new rate IS in force; any other means the rate is not known.
    """
    if getattr(error, "errno", None) == ESP_ERR_INVALID_STATE:
        return baud, ("earshot: console UART0 runs at %d baud (machine.UART set it, then "
                      "raised ESP_ERR_INVALID_STATE: the REPL UART has no driver)" % baud)
    return 0, "earshot: console UART0 rate unknown: machine.UART raised %r" % (error,)


# The detector's cost is budgeted at 240 MHz (docs/wakeword.md "Cost"). Quirk: upstream's plain
# ESP32_GENERIC_S3 build boots at ESP-IDF's default of 160 MHz: only its SPIRAM_OCT variant adds
# boards/sdkconfig.240mhz (ports/esp32/boards/ESP32_GENERIC_S3/mpconfigboard.cmake,
# mpconfigvariant_SPIRAM_OCT.cmake). machine.freq(hz) accepts 20/40/80/160/240 MHz, else
# ValueError (ports/esp32/modmachine.c mp_machine_set_freq: esp_pm_configure, then waits until
# esp_rom_get_cpu_ticks_per_us() reports the new clock).
CPU_HZ = 240_000_000


def chip_id(machine):
    """This chip's id as hex: machine.unique_id() (ports/esp32/modmachine.c
    mp_machine_unique_id: esp_efuse_mac_get_default(), the base MAC, 6 bytes)."""
    import binascii

    return binascii.hexlify(machine.unique_id()).decode()


def set_clock(machine, hz=CPU_HZ):
    """Set the CPU clock at boot; (the clock now in force, a line to print or None)."""
    try:
        machine.freq(hz)
    except (ValueError, OSError) as e:
        now = machine.freq()
        return now, "earshot: CPU stays at %d MHz: machine.freq raised %r" % (now // 1_000_000,
                                                                             e)
    return machine.freq(), None


# A serial write that blocked this long ran into the USB CDC timeout: the host holds the port
# open and reads nothing. A healthy write of the largest frame takes well under it (docs/
# protocol.md, serial budget); MICROPY_HW_USB_CDC_TX_TIMEOUT is 500 ms.
HOST_STALL_US = 450_000


def host_took(n, blocked_us):
    """What serial_write reports: the count the write returned, or 0 when it blocked into the
    USB CDC timeout. Quirk: upstream's count cannot say it. mp_usbd_cdc_tx_strn (shared/
    tinyusb/mp_usbd_cdc.c) returns short after MICROPY_HW_USB_CDC_TX_TIMEOUT (500 ms) without
    room, but mp_hal_stdout_tx_strn (ports/esp32/mphalport.c) returns the UART mirror's full
    count when USB took nothing (`if (cdc_res > 0)`), and sys.stdout.buffer.write loops on a
    short count (py/stream.c mp_stream_rw) until then: the write returns len(data) after
    0.5-1 s while the host got only what fitted in the 256-byte CDC FIFO."""
    if n is None or blocked_us >= HOST_STALL_US:
        return 0
    return n


def mute_is_switch(board):
    """True when the board's mute control is a latched switch that reports state (BOX-3)."""
    return board.get("buttons", {}).get("mute", {}).get("kind") == "switch"


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
