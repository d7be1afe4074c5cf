"""earshot power off|on|cycle: the power supply of a running virtual board.

off cuts power abruptly (the firmware dies wherever it is); on powers it up again (it boots
muted: fail closed); cycle is the reset button.
"""

from .common import add_json_argument, add_sim_port_argument


def setup(p):
    p.add_argument("action", choices=("off", "on", "cycle"),
                   help="off (cut power), on, or cycle (press reset)")
    add_sim_port_argument(p)
    add_json_argument(p, "whether the board is powered")


def run(args):
    from ..link.target import resolve_sim
    from ..sim.control import request
    from .common import print_json

    r = request(resolve_sim(args.port), "power", action=args.action)
    if args.json:
        print_json({"action": args.action, "powered": r["powered"]})
    else:
        print("power %s: the board is %s" % (args.action, "on" if r["powered"] else "off"))
    return 0
