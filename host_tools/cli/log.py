"""earshot log: read the board's transparency log, verify its hash chain, show it.

The head verified last time is remembered per device in the receiver history: a log that was
rolled back or rewritten since then fails, even though it chains internally.
"""

from .common import add_history_argument, add_port_argument


def setup(p):
    add_port_argument(p)
    p.add_argument("--json", action="store_true",
                   help="the entries and the verification result as JSON")
    add_history_argument(p)


def run(args):
    from ..errors import EarshotError
    from ..link.client import Client
    from ..link.target import resolve
    from ..records.history import History
    from ..records.translog import render, verify_log
    from ..vocabulary import repair_warning

    history = History.load(args.history)
    with Client(resolve(args.port).port) as board:
        hello = board.hello()
        data, reply = board.read_log()
    device = hello.get("device_id")
    pinned = history.log_head(device) if device else None
    result = verify_log(data, pins=[pinned] if pinned else [])
    repair = (hello.get("log") or {}).get("repair")
    warning = repair_warning(repair)
    if args.json:
        import json

        print(json.dumps(dict(json.loads(render(result, as_json=True)), repair=repair,
                              warning=warning), indent=2))
    else:
        print(render(result))
        if warning:
            print("WARNING: " + warning)
    if not result.ok:
        raise EarshotError("transparency log does not verify: %s" % result.error)
    if result.entries and list(result.head) != list(reply["head"]):
        raise EarshotError("log head on the board (#%s) differs from the verified chain (#%s)"
                           % (reply["head"][0], result.head[0]))
    if device:
        history.set_log_head(device, result.head)
        history.save()
    return 0
