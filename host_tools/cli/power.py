"""earshot power off|on|cycle: the power supply of a running virtual board.

off cuts power abruptly (the firmware dies wherever it is); on powers it up again (it boots
muted: fail closed); cycle is the reset button. `--hold BUTTON` keeps a button held while the
board starts, as a person does: action arms test mode on a --test-mode build, both unlocks a
locked board for an update (docs/hil-rig.md, docs/threat-model.md).
"""

from .common import Number, add_json_argument, add_sim_port_argument

# The buttons a person can hold at boot, as the world names them (cli/press.py does the same).
_HOLD = {"mute": "mute", "action": "action", "both": "mute+action"}


def setup(p):
    p.add_argument("action", choices=("off", "on", "cycle"),
                   help="off (cut power), on, or cycle (press reset)")
    p.add_argument("--hold", choices=tuple(_HOLD), metavar="BUTTON",
                   help="hold this button (mute, action or both) while the board starts; it is "
                        "released once the firmware has read it (action: arm test mode, both: "
                        "unlock a locked board)")
    p.add_argument("--seconds", type=Number(float, 0.1, 60, of="seconds"), default=None,
                   metavar="S",
                   help="with --hold: how long after the start to keep holding, in board "
                        "seconds (default 3: the firmware decides after 2)")
    add_sim_port_argument(p)
    add_json_argument(p, "whether the board is powered")


def run(args):
    from ..errors import UsageError
    from ..link.target import resolve_sim
    from ..sim.control import request
    from .common import print_json

    fields = {"action": args.action}
    if args.hold:
        fields.update(hold=_HOLD[args.hold])
        if args.seconds is not None:
            fields.update(seconds=args.seconds)
    elif args.seconds is not None:
        raise UsageError("--seconds goes with --hold: how long to hold the button at boot")
    r = request(resolve_sim(args.port), "power", timeout=180, **fields)
    if args.json:
        print_json(dict({"action": args.action, "powered": r["powered"]},
                        **({"held": args.hold} if args.hold else {})))
    elif args.hold:
        print("power %s: the board started with %s held (released at sim time %.2f s)"
              % (args.action, args.hold, r["sim_time_s"]))
    else:
        print("power %s: the board is %s" % (args.action, "on" if r["powered"] else "off"))
    return 0
