"""earshot press mute|action|both [--seconds S]: press buttons of a running virtual board.

Short press of action: push-to-talk; 1.5 s: next consent preset; 4 s: guest mode on/off.
`both` holds mute and action together (default 0.7 s): the confirm gesture, which allows what a
host asked for and does nothing else. Returns once the board has seen the release.
"""

# What `both` means to the world (host_tools/sim/world.py joins button names with +), and how
# long it is held unless told: the firmware confirms after 0.5 s (firmware/earshot/buttons.py).
_BUTTONS = {"mute": "mute", "action": "action", "both": "mute+action"}
_DEFAULT_S = {"both": 0.7}

from .common import Number, add_json_argument, add_sim_port_argument


def setup(p):
    p.add_argument("button", choices=tuple(_BUTTONS),
                   help="which button: mute, action, or both held together (the confirm gesture)")
    p.add_argument("--seconds", type=Number(float, 0.02, 60, of="seconds"), default=None,
                   metavar="S",
                   help="how long to hold it, in board seconds (default: 0.1, both 0.7; action "
                        "1.5 = next preset, 4 = guest mode)")
    p.add_argument("--after", type=float, default=0.0, metavar="S",
                   help="start the press S board seconds from now (default 0): a person who "
                        "first looks at the light (a request is confirmed only once it has "
                        "blinked for a second before the hold)")
    add_sim_port_argument(p)
    add_json_argument(p, "the button, how long, and the sim time it was released")


def run(args):
    from ..link.target import resolve_sim
    from ..sim.control import request
    from .common import print_json

    seconds = args.seconds if args.seconds is not None else _DEFAULT_S.get(args.button, 0.1)
    r = request(resolve_sim(args.port), "press", button=_BUTTONS[args.button], seconds=seconds,
                after=args.after, timeout=(seconds + args.after) * 4 + 30)
    if args.json:
        print_json({k: r[k] for k in ("button", "seconds", "sim_time_s")})
    else:
        print("pressed %s for %.2f s (released at sim time %.2f s)"
              % (args.button, r["seconds"], r["sim_time_s"]))
    return 0
