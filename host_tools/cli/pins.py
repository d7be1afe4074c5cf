"""earshot pins: what a running virtual board's outputs show now (LEDs, mic power), and its
buttons; the same names and colours as the status LED legend.

The status LED says some things by a pattern, not a colour (docs/sessions.md): white steady is
a custom consent, white blinking a key replacement waiting for the household, white blinking
slowly an unlocked board, a colour alternating with white test mode, a colour flickering (dark
100 ms of every 500) a log repair nobody acknowledged. So the LED is watched for a moment of
board time (until a whole dark phase tells its pattern, at most 1.6 s) and named by what it
did, never by one sample's colour alone: every change comes with the board time the board made
it (the simulator's record, like a logic analyser's), so a busy PC cannot stretch a blink.
"""

import time

from .common import add_json_argument, add_sim_port_argument

STEADY_S = 0.55  # no change for this long: steady (every pattern changes within 500 ms)
WATCH_S = 1.6  # long enough to see one whole dark phase of the slowest pattern (500 ms)
SLOW_S = 0.375  # a dark phase longer than this is the 500 ms blink, shorter the 250 ms one
FLICKER_S = 0.175  # a dark phase shorter than this is the log repair's 100 ms flicker
_STALLED_S = 10  # host seconds without the board's clock moving: it is not running
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
    r, samples = watch(lambda: request(info, "pins"),
                       lambda since: request(info, "edges", since=since)["edges"])
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


def watch(ask, edges=None, wait=None):
    """Watch the status LED until its pattern is certain, in board time: (last reply,
    [(board time s, rgb)]), the LED's colour when watching began and every change the board
    made since, each at the board time it made it (the simulator's logic-analyser record,
    control op "edges"), and the board time watching ended. A loaded PC slows the board's
    clock and the host's polling alike; neither changes what is measured."""
    r = ask()
    t0 = r["sim_time_s"]
    samples = [(t0, tuple(r["pins"]["status_led"]))]
    if not r["powered"]:
        return r, samples
    wait = wait or time.sleep
    stalled_since, last_t = time.monotonic(), t0
    while True:
        wait(0.05)
        r = ask()
        t = r["sim_time_s"]
        changes = [(at, tuple(v)) for at, name, v in edges(t0) if name == "status_led"
                   and t0 < at <= t] if edges else []
        seen = samples[:1] + changes + [(t, tuple(r["pins"]["status_led"]))]
        span = t - t0
        if (not changes and span >= STEADY_S) or span >= WATCH_S or \
                (changes and _certain(seen)):
            return r, seen
        if t > last_t:
            stalled_since, last_t = time.monotonic(), t
        elif time.monotonic() - stalled_since > _STALLED_S or not r["powered"]:
            return r, seen  # its clock stopped (at the REPL, powered off): what it showed


def _certain(samples):
    colours = {c for _, c in samples}
    if _DARK not in colours:
        return len(colours) > 1  # a colour and white, never dark: test mode
    return _whole_phase(samples, dark=True) is not None


def _whole_phase(samples, dark=None):
    """The longest phase seen from the change that began it to the change that ended it, in
    board seconds, or None: of either kind, or only dark ones (dark=True). The blink patterns
    are lit and dark for equal halves (firmware/earshot/app.py: lit while (elapsed // BLINK_MS)
    is even); the log repair's flicker is dark 100 ms and lit 400 ms, so only a dark phase
    tells all three apart. The first sample is where watching began and the last where it
    ended, not changes: a phase that touches either is not whole."""
    changes = [(t, c) for i, (t, c) in enumerate(samples)
               if 0 < i < len(samples) - 1 and c != samples[i - 1][1]]
    spans = [b[0] - a[0] for a, b in zip(changes, changes[1:])
             if dark is None or (a[1] == _DARK) == dark]
    return max(spans) if spans else None


def classify(samples):
    """(rgb, pattern) the samples show: pattern is off, steady, blinking, slow blinking,
    flickering (also "flickering, alternating with white") or alternating with white
    (docs/sessions.md, the status LED legend)."""
    colours = [c for _, c in samples]
    lit = [c for c in colours if c != _DARK]
    if not lit:
        return _DARK, "off"
    if _DARK in colours:
        rgb = max(set(lit), key=lit.count)
        phase = _whole_phase(samples, dark=True)
        if phase is None:
            phase = _whole_phase(samples)  # watched too briefly: the best guess
        elif phase < FLICKER_S:
            others = [c for c in lit if c != _WHITE]
            if others and _WHITE in lit:  # over test mode's alternation
                return max(set(others), key=others.count), "flickering, alternating with white"
            return rgb, "flickering"
        return rgb, "slow blinking" if phase is not None and phase > SLOW_S else "blinking"
    others = [c for c in lit if c != _WHITE]
    if others and _WHITE in lit:
        return max(set(others), key=others.count), "alternating with white"
    return max(set(lit), key=lit.count), "steady"
