# Earshot firmware entry point. The board starts muted and stays so until the stored state is
# read; whatever ends the application leaves the mic off and the mute LED on.
#
# The lock (docs/threat-model.md). `earshot deploy --locked` builds this file with LOCKED = True.
# - Ctrl-C goes off first, on every build: shared/runtime/pyexec.c parse_compile_execute() turns
#   the interrupt char on just before this file runs, and the ESP32 port's USB/UART receive
#   handlers turn a matching byte into a KeyboardInterrupt. One that arrived before the line
#   below took effect is pending: _console_off() raises it inside its own try (see there).
# - This file never ends on a locked board: ports/esp32/main.c starts the REPL when main.py
#   returns or raises. Any exception (a stray KeyboardInterrupt too) fails safe, is logged and
#   resets the board.
# - Developer builds (and a locked board unlocked at boot by both buttons held) turn Ctrl-C
#   back on in earshot.access, and a Ctrl-C or an error ends in the REPL, muted, as before.
# - A locked build ships no boot.py: an exception in boot.py (a Ctrl-C landing in it) makes
#   ports/esp32/main.c skip main.py ("pyexec_mode_kind == PYEXEC_MODE_FRIENDLY_REPL && ret != 0").
LOCKED = False
DATA = "/data"


def _console_off():
    import micropython
    import time

    micropython.kbd_intr(-1)
    # A Ctrl-C that landed before the line above took effect is pending, and upstream's VM
    # raises a pending exception only at a jump (py/vm.c `pending_exception_check:`), not at a
    # call or return: left alone it would surface at the POP_EXCEPT_JUMP that ends the try
    # below, which pops the handler before it checks, and drop a locked board to the REPL.
    # ports/esp32/mphalport.c mp_hal_delay_ms calls mp_handle_pending(true) first, even for
    # 0 ms: the pending Ctrl-C is raised here, inside the try.
    time.sleep_ms(0)


while True:
    try:
        _console_off()
        break
    except BaseException:  # noqa: B036, S110 - a Ctrl-C already on its way: turn it off again
        pass


def _detector():
    # The on-device wake word, when a model is deployed (/models/<word>.json + .bin).
    # Exactly the model deploy chose: /models/wake_word.txt names it.
    try:
        from earshot.wakeword import Detector, chosen
    except ImportError:
        return None
    base = chosen("/models")
    if base is None:
        return None
    try:
        return Detector(base + ".bin", base + ".json")
    except (OSError, ValueError, KeyError) as e:
        # a model the detector refuses (ModelError is a ValueError): run without a wake word
        # (push-to-talk still works) rather than stop the board
        print("earshot: wake word off:", e)
        return None


def _fail_closed(hw, app, error):
    # Locked: mic off, a line in the transparency log, reset. Never raises, never returns.
    try:
        if hw is not None:
            hw.fail_safe()
    except BaseException:  # noqa: B036
        pass
    try:
        fields = {"error": type(error).__name__, "locked": True}
        if app is not None:
            app.log.append("crash", fields, app.hw.ticks_ms())
        else:
            from earshot.translog import TransparencyLog

            TransparencyLog(DATA + "/log.txt").append("crash", fields, 0)
    except BaseException:  # noqa: B036 - the reset below matters more than the entry
        pass
    from earshot.hw import reset_board

    reset_board()


def main():
    hw = app = access = None
    try:
        from earshot.hw import load_board, open_hardware

        hw = open_hardware(load_board())
        hw.fail_safe()
        from earshot.access import decide

        cause = hw.reset_cause()
        access = decide(hw, bytearray(hw.FRAME_SAMPLES * 2), cause, DATA, LOCKED)
        from earshot.app import App

        app = App(hw, detector=_detector(), reset_cause=cause, access=access, data=DATA)
        app.run()
    except BaseException as e:  # noqa: B036 - nothing may end a locked board's main.py
        if LOCKED and (access is None or access.locked):
            _fail_closed(hw, app, e)
        if isinstance(e, KeyboardInterrupt) and hw is not None:
            # A person at the REPL: stay muted, and let them work without a watchdog reset.
            hw.wdt_stop()
        raise
    finally:
        if hw is not None:
            hw.fail_safe()


main()
