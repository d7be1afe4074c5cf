"""earshot bench --port P: the wake-word pipeline's real share of the board's CPU."""

from .common import add_json_argument, add_port_argument, nonempty


def setup(p):
    add_port_argument(p)
    p.add_argument("--model", default=None, metavar="NAME", type=nonempty,
                   help="a model deployed in /models on the board: alexa or hey_jarvis "
                        "(default: the one it listens for, earshot deploy --wake-word)")
    add_json_argument(p, "the measurement (microseconds per second of audio, core share at "
                         "the board's clock, cpu_mhz, bytes allocated)")


def run(args):
    from ..board.bench import bench
    from ..link.target import resolve
    from .common import Progress, print_json

    r = bench(resolve(args.port).port, args.model, progress=Progress(quiet=args.json,
                                                                    prefix="bench: "))
    if args.json:
        print_json(r)
    else:
        clock = "%d MHz" % r["cpu_mhz"] if r["cpu_mhz"] else "clock unknown"
        print("%s on %s (%s, %s): %.2f ms per second of audio = %.1f%% of one core at that "
              "clock; %d bytes allocated while running; the firmware runs again"
              % (r["model"], r["port"], r["platform"], clock, r["us_per_audio_s"] / 1000,
                 100 * r["core_share"], r["bytes_allocated"]))
    return 0
