"""earshot bench --port P: the wake-word pipeline's real share of the board's CPU."""

import json

from .common import add_port_argument


def setup(p):
    add_port_argument(p)
    p.add_argument("--model", default=None, help="model name in /models (default: the first)")
    p.add_argument("--json", action="store_true")


def run(args):
    from ..board.bench import bench
    from ..link.target import open_target

    with open_target(args.port) as port:
        r = bench(port, args.model)
    if args.json:
        print(json.dumps(r))
    else:
        print("%s on %s (%s): %.2f ms per second of audio = %.1f%% of one core; %d bytes "
              "allocated while running" % (r["model"], r["port"], r["platform"],
                                          r["us_per_audio_s"] / 1000, 100 * r["core_share"],
                                          r["bytes_allocated"]))
    return 0
