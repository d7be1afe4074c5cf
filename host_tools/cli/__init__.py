"""The `earshot` command: one dispatch table of subcommands, in the style of mpremote.

Each command module under `host_tools/cli/` has `setup(parser)` (its arguments) and
`run(args) -> exit status`, and only parses, prints and picks exit codes: the work is done by
the library (board/, link/, records/, flash/, sim/, hil/, wakeword/). Command modules import
nothing heavy at module level, so `earshot --help` is fast and never touches a port.
"""

import argparse
import sys

from ..errors import EarshotError, UsageError
from . import (bench, bridge, consent, dashboard, deploy, flash, hil, log, monitor, pins, play,
               ports, power, press, provision, record, sim, status, verify, wakeword)
from .common import FAILED, INTERRUPTED, OK, USAGE

# name -> (module with setup/run, one-line help)
COMMANDS = {
    "sim": (sim, "run a virtual ESP32-S3 board; later commands reach it as --port sim (or "
                 "sim:NAME)"),
    "press": (press, "press a button of the running virtual board"),
    "play": (play, "play a WAV into the running virtual board's microphone"),
    "pins": (pins, "show the running virtual board's LEDs, mic power and buttons"),
    "power": (power, "cut, restore or cycle the running virtual board's power"),
    "deploy": (deploy, "compile the firmware with mpy-cross and copy it to a board"),
    "status": (status, "firmware, board, mute, consent, what the LEDs mean"),
    "monitor": (monitor, "live view of the board's events"),
    "provision": (provision, "give a board its device id and signing key"),
    "consent": (consent, "show or change the household's consent"),
    "log": (log, "read and verify the board's transparency log"),
    "record": (record, "receive, verify and keep streamed sessions"),
    "verify": (verify, "verify a capture, or a session kept by earshot record"),
    "ports": (ports, "list serial ports and virtual boards, and which answer as Earshot boards"),
    "flash": (flash, "flash MicroPython and the firmware onto a real board"),
    "hil": (hil, "run the behaviour suite against real boards"),
    "wakeword": (wakeword, "wake-word dataset, training, scoring"),
    "bench": (bench, "run the wake-word pipeline benchmark on a board"),
    "dashboard": (dashboard, "a web page for the household: mute, consent, the verified log"),
    "bridge": (bridge, "the board as a Wyoming satellite for Home Assistant, consent enforced"),
}


def version():
    from ..link.protocol import VERSION
    from ..resources import firmware_version, package_version

    return "earshot %s (firmware %s, protocol v%d)" % (package_version(), firmware_version(),
                                                       VERSION)


class _Version(argparse.Action):
    def __init__(self, option_strings, dest, **kw):
        super().__init__(option_strings, dest, nargs=0, help=kw.get("help"))

    def __call__(self, parser, namespace, values, option_string=None):
        print(version())
        parser.exit()


def build_parser():
    parser = argparse.ArgumentParser(
        prog="earshot",
        description="Earshot: privacy firmware for ESP32-S3 microphone boards.",
        epilog="Exit status: 0 done; 1 failed (one line `earshot: ...` on stderr says why); "
               "2 wrong command line; 130 interrupted.",
    )
    parser.add_argument("--version", action=_Version,
                        help="print the versions of earshot, its firmware and protocol")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (module, help_text) in COMMANDS.items():
        module.setup(sub.add_parser(name, help=help_text, description=help_text))
    return parser


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    try:
        parser = build_parser()
        args = parser.parse_args(argv)
        if not args.command:  # a wrong command line, as argparse's own errors (README)
            parser.print_help(sys.stderr)
            return USAGE
        return COMMANDS[args.command][0].run(args) or OK
    except EarshotError as e:
        print("earshot: %s" % " ".join(str(e).split()), file=sys.stderr)
        return USAGE if isinstance(e, UsageError) else FAILED
    except KeyboardInterrupt as e:  # with the state it left, when a command says it
        print("earshot: interrupted%s" % (": %s" % " ".join(str(e).split()) if str(e) else ""),
              file=sys.stderr)
        return INTERRUPTED
    except BrokenPipeError:
        return OK


if __name__ == "__main__":
    sys.exit(main())
