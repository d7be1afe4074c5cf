# Who may do what with this board (docs/threat-model.md), decided once as it starts.
#
#   developer  an ordinary `earshot deploy`: the MicroPython REPL stays reachable over the serial
#              port (Ctrl-C stops the firmware), so whoever holds the port is trusted with
#              everything, the key included. For development and hardware-in-the-loop racks.
#   locked     `earshot deploy --locked`, what a household gets: main.py turned Ctrl-C off
#              before anything else and never returns to the REPL, so the serial port speaks
#              only the Earshot protocol. Test mode is refused.
#   unlocked   a locked board started with both buttons held (HOLD_MS): Ctrl-C works again
#              until the next reset, so `earshot deploy` can update it. Logged, and shown on
#              the status LED (white blinking once a second) for as long as it lasts.
#
# Test mode (`earshot deploy --test-mode`, never on a locked build) only starts when a person
# holds the action button while the board starts; it then lasts until the next power-on (a file
# in /data, removed at every power-on boot).
#
# The buttons are read through the hardware layer with the microphone still off: read_frame()
# then waits one frame period and returns silence, so time passes as on any frame.
import os

from micropython import const

from earshot import store
from earshot.hw import BUTTON_ACTION, BUTTON_MUTE

DEVELOPER = "developer"
LOCKED = "locked"
UNLOCKED = "unlocked"

HOLD_MS = const(2000)  # a boot gesture is the buttons held this long from power-on
_CTRL_C = const(3)
_PWRON_RESET = const(1)
_BOTH = BUTTON_MUTE | BUTTON_ACTION
_WHITE = (255, 255, 255)


def console(enabled):
    """Ctrl-C on the serial port interrupts the firmware (True) or is an ordinary byte (False).

    micropython.kbd_intr sets mp_interrupt_char, which the ESP32 port's USB and UART receive
    handlers compare every byte with (see host_tools/sim/console.py for the exact lines)."""
    import micropython

    micropython.kbd_intr(_CTRL_C if enabled else -1)


def boot_gesture(hw, frame):
    """The buttons held from the start, if held for HOLD_MS without change; else 0."""
    hw.read_frame(frame)
    first = hw.buttons()
    if not first:
        return 0
    hw.set_status_led(_WHITE[0], _WHITE[1], _WHITE[2])  # "keep holding"
    start = hw.ticks_ms()
    # ticks_diff, not a subtraction: ticks_ms() wraps at 2**30 ms (py/mpconfig.h
    # MICROPY_PY_TIME_TICKS_PERIOD) and runs on through a soft reset (esp_timer counts from the
    # chip's start, ports/esp32/mphalport.c mp_hal_ticks_ms), so a gesture can straddle the wrap.
    while hw.ticks_diff(hw.ticks_ms(), start) < HOLD_MS:
        hw.read_frame(frame)
        if hw.buttons() != first:
            hw.set_status_led(0, 0, 0)
            return 0
    return first


class Access:
    """The decision: .mode (DEVELOPER, LOCKED, UNLOCKED), .test_mode (armed), .gesture (the
    buttons held at boot, still down: the application must not read their release as a
    press), .notes (what to write in the transparency log at boot)."""

    def __init__(self, mode, test_mode, gesture, notes):
        self.mode = mode
        self.test_mode = test_mode
        self.gesture = gesture
        self.notes = notes

    @property
    def locked(self):
        return self.mode == LOCKED


def decide(hw, frame, reset_cause, data, locked_build=False):
    """The boot gesture and the build (locked_build: main.py's LOCKED; test mode: the board
    file's "test_mode") decide; Ctrl-C goes back on unless the board stays locked."""
    board = hw.board
    if not locked_build:
        console(True)  # a developer board: the REPL is meant to be reachable
    gesture = boot_gesture(hw, frame)
    notes = []
    mode = DEVELOPER
    if locked_build:
        mode = LOCKED
        if gesture == _BOTH:
            mode = UNLOCKED
            console(True)
            notes.append(("unlock", {"by": "both buttons held at boot"}))
    armed_path = data + "/test_mode.json"
    try:
        os.mkdir(data)
    except OSError:
        pass
    if reset_cause == _PWRON_RESET:
        _remove(armed_path)  # test mode never survives a power-on
    test = False
    if board.get("test_mode"):
        if locked_build:
            notes.append(("test_mode", {"on": False, "why": "refused: locked build"}))
        elif gesture == BUTTON_ACTION:
            store.save(armed_path, {"armed": True})
            test = True
            notes.append(("test_mode", {"on": True, "by": "action held at boot"}))
        elif (store.load(armed_path) or {}).get("armed") is True:
            test = True
            notes.append(("test_mode", {"on": True, "by": "armed since power-on"}))
        else:
            notes.append(("test_mode", {"on": False,
                                        "why": "not armed: hold action while the board starts"}))
    return Access(mode, test, gesture, notes)


def _remove(path):
    for p in (path, path + ".tmp"):
        try:
            os.remove(p)
        except OSError:
            pass
