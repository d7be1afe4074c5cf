# Earshot firmware entry point. The board starts muted and stays so until the stored state is
# read; whatever ends the application (Ctrl-C, an exception) leaves the mic off, LED on.
from earshot.hw import load_board, open_hardware


def _detector():
    # The on-device wake word, when a model is deployed (/models/<word>.json + .bin).
    try:
        import os

        from earshot.wakeword import Detector
    except ImportError:
        return None
    try:
        names = sorted(n for n in os.listdir("/models") if n.endswith(".json"))
    except OSError:
        return None
    if not names:
        return None
    base = "/models/" + names[0][:-5]
    try:
        return Detector(base + ".bin", base + ".json")
    except (OSError, ValueError, KeyError) as e:
        # a model the detector refuses (ModelError is a ValueError): run without a wake word
        # (push-to-talk still works) rather than stop the board
        print("earshot: wake word off:", e)
        return None


def main():
    hw = open_hardware(load_board())
    hw.fail_safe()
    try:
        from earshot.app import App

        app = App(hw, detector=_detector(), reset_cause=hw.reset_cause())
        app.run()
    except KeyboardInterrupt:
        # A person at the REPL: stay muted, and let them work without a watchdog reset.
        hw.wdt_stop()
        raise
    finally:
        hw.fail_safe()


main()
