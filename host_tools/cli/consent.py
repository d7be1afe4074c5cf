"""earshot consent show | set PRESET | guest on|off: the household's consent on the board.

A more private choice applies at once (and answers "no" to a request that waits). A less private
one needs both buttons held together on the board: the command waits for it with a countdown and
reports the outcome (applied: exit 0; expired or cancelled: exit 1). Stopped meanwhile (Ctrl-C,
SIGTERM) it withdraws the request on the board first (exit 130).
"""

import argparse

from .common import Countdown, add_json_argument, add_port_argument


def setup(p):
    # --port and --json are accepted before the action (earshot consent --port P show) and
    # after it (earshot consent show --port P); after it, they are only set when given.
    add_port_argument(p)
    add_json_argument(p, "the outcome and the consent in force")
    sub = p.add_subparsers(dest="consent_action", metavar="ACTION", required=True)
    show = sub.add_parser("show", help="the consent in force and what it allows",
                          description="Show the consent in force and what it allows.")
    from ..vocabulary import PRESETS

    presets = ", ".join("%s (%s)" % (name, meaning) for name, _, meaning in PRESETS)
    set_ = sub.add_parser("set", help="choose a preset (less private ones need the button)",
                          description="Choose a consent preset: " + presets + ". A less private "
                          "preset waits for someone to hold both buttons together on the board.")
    set_.add_argument("preset", choices=[name for name, _, _ in PRESETS], metavar="PRESET",
                      help="private, assistant, history or contribute")
    set_.add_argument("--no-wait", action="store_true",
                      help="do not wait for the button: report that the board waits and exit 0")
    guest = sub.add_parser("guest", help="guest mode on (everything off) or off",
                           description="Guest mode forces every flag off for a visitor; turning "
                           "it off needs the button on the board.")
    guest.add_argument("state", choices=("on", "off"), help="on or off")
    guest.add_argument("--no-wait", action="store_true",
                       help="do not wait for the button: report that the board waits and exit 0")
    for q in (show, set_, guest):
        add_port_argument(q, default=argparse.SUPPRESS)
        add_json_argument(q, "the outcome and the consent in force", default=argparse.SUPPRESS)


def run(args):
    from ..errors import EarshotError
    from ..link.client import Client
    from ..link.target import resolve
    from .common import print_json
    from .stopping import requester, terminate_as_interrupt

    with Client(resolve(args.port).port) as board, terminate_as_interrupt():
        board.hello()
        if args.consent_action == "show":
            reply, outcome = board.command("status"), "unchanged"
        else:
            request = ({"preset": args.preset} if args.consent_action == "set"
                       else {"guest": args.state == "on"})
            request["by"] = requester()
            if args.no_wait:
                reply = board.command("consent", **request)
                outcome = reply.get("result")
            else:
                countdown = Countdown(quiet=args.json)
                try:
                    reply, outcome = board.command_confirmed("consent", countdown=countdown,
                                                             **request)
                finally:
                    countdown.finish()
                outcome = outcome or (reply or {}).get("result")
            if not reply or outcome != reply.get("result") or "consent" not in reply:
                reply = board.command("status")  # the consent the outcome left in force
    c = reply["consent"]
    if args.json:
        print_json({"outcome": outcome, "consent": c})
    else:
        print(describe(outcome, c))
    if outcome in ("expired", "cancelled"):
        from ..vocabulary import consent_text

        raise EarshotError("%s: nobody confirmed on the board%s; consent stays %s" % (
            outcome, " in time" if outcome == "expired" else " (another choice was made)",
            consent_text(c["flags"], c["guest"], c["preset"])))
    return 0


def describe(outcome, c):
    from ..vocabulary import FLAG_MEANINGS, consent_text

    now = consent_text(c["flags"], c["guest"], c["preset"])
    allows = "; ".join("%s %s" % (f, FLAG_MEANINGS[f]) for f in c["flags"] if f in FLAG_MEANINGS)
    text = {"applied": "applied: consent is now %s", "unchanged": "consent is %s",
            "needs_confirmation": "consent is %s",
            "expired": "expired: consent is still %s",
            "cancelled": "cancelled: consent is still %s"}.get(outcome, "consent is %s") % now
    text += "; " + (allows if allows and not c["guest"] else "nothing leaves the board")
    if c.get("pending"):
        text += ("\nwaiting: hold both buttons on the board together to allow %s (the status LED "
                 "blinks its colour until then)" % c["pending"])
    return text
