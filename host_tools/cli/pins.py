"""earshot pins: what a running virtual board's outputs show now (LEDs, mic power), and its
buttons; the same names and colours as the status LED legend.

The status LED says some things by a pattern, not a colour (docs/sessions.md): white steady is
a custom consent, white blinking a key replacement waiting for the household, white blinking
slowly an unlocked board, a colour alternating with white test mode. So the LED is watched
for a moment of board time (until its pattern is certain, at most about a second) and named
by what it did, never by one sample's colour alone.
"""

import time

from .common import add_json_argument, add_sim_port_argument

STEADY_S = 0.55  # no change for this long: steady (every pattern changes within 500 ms)
WATCH_S = 1.3  # long enough to see one whole lit phase of the slowest pattern (500 ms)
SLOW_S = 0.375  # a lit phase longer than this is the 500 ms blink, shorter the 250 ms one
_WHITE, _DARK = (255, 255, 255), (0, 0, 0)


def setup(p):
    add_sim_port_argument(p)
    add_json_argument(p, "pins, buttons, power, sim time and the status light seen")


def run(args):
    from ..link.target import resolve_sim
    from ..sim.control import request
    from ..vocabulary import light_named
    from .common import print_json

    info = resolve_sim(args.port)
    r, samples = watch(lambda: request(info, "pins"))
    pins, buttons = r["pins"], r["buttons"]
    rgb, pattern = classify(samples)
    light = light_named(rgb, pattern)
    if args.json:
        print_json({"pins": pins, "buttons": buttons, "sim_time_s": r["sim_time_s"],
                    "powered": r["powered"], "status_light": light})
        return 0
    print("mute_led    %-4s %s" % ("on" if pins["mute_led"] else "off",
                                  "lit: the microphone is off" if pins["mute_led"] else ""))
    print("mic_power   %s" % ("on" if pins["mic_power"] else "off"))
    shown = light["colour"] if pattern in ("steady", "off") else "%s, %s" % (light["colour"],
                                                                            pattern)
    print("status_led  %s (%d, %d, %d) %s" % (shown, *light["rgb"], light["means"]))
    pressed = [b for b, down in sorted(buttons.items()) if down]
    print("buttons     %s" % (", ".join(pressed) + " held" if pressed else "none held"))
    print("power       %s" % ("on" if r["powered"] else "OFF"))
    print("sim time    %.2f s (the simulator's audio clock since it started)" % r["sim_time_s"])
    return 0


def watch(ask):
    """Ask for the pins until the status LED's pattern is certain: (last reply, [(board time s,
    rgb)])."""
    r = ask()
    samples = [(r["sim_time_s"], tuple(r["pins"]["status_led"]))]
    if not r["powered"]:
        return r, samples
    give_up = time.monotonic() + 10  # a simulator too loaded to move its clock
    while time.monotonic() < give_up:
        span = samples[-1][0] - samples[0][0]
        changed = len({c for _, c in samples}) > 1
        if (not changed and span >= STEADY_S) or span >= WATCH_S or \
                (changed and _certain(samples)):
            break
        time.sleep(0.03)
        r = ask()
        samples.append((r["sim_time_s"], tuple(r["pins"]["status_led"])))
    return r, samples


def _certain(samples):
    colours = {c for _, c in samples}
    if _DARK not in colours:
        return len(colours) > 1  # a colour and white, never dark: test mode
    return _whole_lit_phase(samples) is not None


def _whole_lit_phase(samples):
    """The longest lit phase seen from its start to its end (seconds), or None. Each phase is
    between the samples that bound it (last dark before, first dark after) and the samples
    inside it: the middle of the two is the estimate, whatever the sampling interval."""
    longest, dark_at, first, last = None, None, None, None
    for t, c in samples:
        if c == _DARK:
            if first is not None:
                phase = ((last - first) + (t - dark_at)) / 2
                longest = max(longest or 0.0, phase)
            dark_at, first, last = t, None, None
        elif dark_at is not None:
            first = t if first is None else first
            last = t
    return longest


def classify(samples):
    """(rgb, pattern) the samples show: pattern is off, steady, blinking, slow blinking or
    alternating with white (docs/sessions.md, the status LED legend)."""
    colours = [c for _, c in samples]
    lit = [c for c in colours if c != _DARK]
    if not lit:
        return _DARK, "off"
    if _DARK in colours:
        rgb = max(set(lit), key=lit.count)
        phase = _whole_lit_phase(samples)
        return rgb, "slow blinking" if phase is not None and phase > SLOW_S else "blinking"
    others = [c for c in lit if c != _WHITE]
    if others and _WHITE in lit:
        return max(set(others), key=others.count), "alternating with white"
    return max(set(lit), key=lit.count), "steady"
