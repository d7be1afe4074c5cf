"""earshot press mute|action [--seconds S]: press a button of a running virtual board.

Short press of action: push-to-talk, or confirms a request waiting on the board; 1.5 s: next
consent preset; 4 s: guest mode on/off. Returns once the board has seen the release.
"""

from .common import add_json_argument, add_sim_port_argument


def setup(p):
    p.add_argument("button", choices=("mute", "action"), help="which button: mute or action")
    p.add_argument("--seconds", type=float, default=0.1, metavar="S",
                   help="how long to hold it, in board seconds (default: 0.1; action 1.5 = next "
                        "preset, 4 = guest mode)")
    add_sim_port_argument(p)
    add_json_argument(p, "the button, how long, and the sim time it was released")


def run(args):
    from ..link.target import resolve_sim
    from ..sim.control import request
    from .common import print_json

    r = request(resolve_sim(args.port), "press", button=args.button, seconds=args.seconds,
                timeout=args.seconds * 4 + 30)
    if args.json:
        print_json({k: r[k] for k in ("button", "seconds", "sim_time_s")})
    else:
        print("pressed %s for %.2f s (released at sim time %.2f s)"
              % (r["button"], r["seconds"], r["sim_time_s"]))
    return 0
