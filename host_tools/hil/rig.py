"""What is wired around a board under test: buttons, power, the reset line, a pin probe.

The behaviour suite's SerialTarget reaches the board's firmware over serial and everything
physical through a rig. Three rigs, each overriding only what it can do:

    Rig          nothing wired: every physical act raises NotSupportedError saying what would
                 make it possible, and the test is skipped with that reason
    SimRig       a running `earshot sim`, through its control socket (earshot press/power/pins)
    LabgridRig   a labgrid place's drivers (host_tools/hil/lab.py)

Button names are the world's: "mute", "action", and "mute+action" (both held together).
"""

import time

from ..errors import NotSupportedError

RIG_DOC = "docs/hil-rig.md"
_FIRMWARE_SEES_S = 0.04  # two audio frames: the firmware samples the buttons once per frame


class Rig:
    """A board on a cable and nothing else."""

    name = "no rig"

    def buttons(self, button):
        return button.split("+")

    def hold(self, button):
        raise NotSupportedError("pressing '%s' needs a button rig (%s)" % (button, RIG_DOC))

    def release(self, button):
        raise NotSupportedError("pressing '%s' needs a button rig (%s)" % (button, RIG_DOC))

    def press(self, button, seconds=0.1, wait=None):
        """Hold for `seconds`, then let the firmware see the release. `wait(s)` lets s seconds
        of the board's own time pass (SerialTarget.advance: its ticks); without it, the host's
        sleep, which a loaded PC or a slow network stretches but never shortens."""
        wait = wait or time.sleep
        self.hold(button)
        try:
            wait(seconds)
        finally:
            self.release(button)
        wait(_FIRMWARE_SEES_S)

    def power_off(self):
        raise NotSupportedError("cutting power needs a relay on the board's supply (%s)" % RIG_DOC)

    def power_on(self):
        raise NotSupportedError("cutting power needs a relay on the board's supply (%s)" % RIG_DOC)

    def reset(self):
        """A pulse on EN: the chip restarts with reset cause 'hard reset' (not a power-on)."""
        raise NotSupportedError("resetting the chip needs a line on its EN pin (%s)" % RIG_DOC)

    def boot_holding(self, button, started):
        """Start the board with `button` held, as a person arms test mode: hold, reset (or
        cycle power), wait until `started()` says the firmware answers (its boot gesture is
        over by then), release."""
        self.hold(button)
        try:
            try:
                self.reset()
            except NotSupportedError:
                self.power_off()
                time.sleep(0.5)
                self.power_on()
            started()
        finally:
            self.release(button)

    def pins(self):
        raise NotSupportedError("reading pins needs a probe on the mute LED and mic power (%s)"
                                % RIG_DOC)

    def now(self):
        """The probe's clock, in seconds (board time on a virtual board)."""
        raise NotSupportedError("timing pin changes needs a logic analyser on the buttons, the "
                                "mute LED and mic power (%s)" % RIG_DOC)

    def edges(self, since):
        """[(t, name, value)] the probe recorded since `since` (its clock): pins and buttons."""
        raise NotSupportedError("timing pin changes needs a logic analyser on the buttons, the "
                                "mute LED and mic power (%s)" % RIG_DOC)

    def describe(self):
        """What this rig can do, for the run's header: {"buttons": bool, ...}."""
        return {}

    def close(self):
        pass


class SimRig(Rig):
    """The world around a running `earshot sim` (its control socket): buttons in board time."""

    def __init__(self, registration):
        self.info = registration
        self.name = "earshot sim %s" % registration.get("name")

    def _ask(self, op, **fields):
        from ..sim.control import request

        return request(self.info, op, **fields)

    def hold(self, button):
        self._ask("hold", button=button)

    def release(self, button):
        self._ask("release", button=button)

    def press(self, button, seconds=0.1, wait=None):
        # Board time, and it returns once the firmware has seen the release.
        self._ask("press", button=button, seconds=seconds, timeout=seconds * 4 + 30)

    def power_off(self):
        self._ask("power", action="off")

    def power_on(self):
        self._ask("power", action="on")

    def reset(self):
        self._ask("power", action="cycle")

    def boot_holding(self, button, started):
        self._ask("power", action="cycle", hold=button, timeout=180)
        started()

    def pins(self):
        pins = self._ask("pins")["pins"]
        return dict(pins, status_led=tuple(pins["status_led"]))

    def now(self):
        return self._ask("pins")["sim_time_s"]

    def edges(self, since):
        return [(t, name, tuple(v) if isinstance(v, list) else v)
                for t, name, v in self._ask("edges", since=since)["edges"]]

    def describe(self):
        return {"buttons": True, "power": True, "reset": True, "probe": True}
