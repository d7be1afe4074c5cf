"""earshot pins: what a running virtual board's outputs show now (LEDs, mic power), and its
buttons; the same names and colours as the status LED legend."""

from .common import add_json_argument, add_sim_port_argument


def setup(p):
    add_sim_port_argument(p)
    add_json_argument(p, "pins, buttons, power and sim time")


def run(args):
    from ..link.target import resolve_sim
    from ..sim.control import request
    from ..vocabulary import STATUS_LED, colour_name
    from .common import print_json

    r = request(resolve_sim(args.port), "pins")
    pins, buttons = r["pins"], r["buttons"]
    if args.json:
        print_json({"pins": pins, "buttons": buttons, "sim_time_s": r["sim_time_s"],
                    "powered": r["powered"]})
        return 0
    name = colour_name(pins["status_led"])
    meaning = next((m for rgb, n, m in STATUS_LED.values() if n == name), "")
    print("mute_led    %-4s %s" % ("on" if pins["mute_led"] else "off",
                                  "lit: the microphone is off" if pins["mute_led"] else ""))
    print("mic_power   %s" % ("on" if pins["mic_power"] else "off"))
    print("status_led  %-4s %s" % (name, "(%d, %d, %d) %s" % (*pins["status_led"], meaning)))
    pressed = [b for b, down in sorted(buttons.items()) if down]
    print("buttons     %s" % (", ".join(pressed) + " held" if pressed else "none held"))
    print("power       %s" % ("on" if r["powered"] else "OFF"))
    print("sim time    %.2f s (the simulator's audio clock since it started)" % r["sim_time_s"])
    return 0
