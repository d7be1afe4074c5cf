"""The `earshot` command: one dispatch table of subcommands, in the style of mpremote.

Each command module under `host_tools/cli/` has `setup(parser)` (its arguments) and
`run(args) -> exit status`, and only parses, prints and picks exit codes: the work is done by
the library (board/, link/, records/, flash/, sim/, hil/, wakeword/). Command modules import
nothing heavy at module level, so `earshot --help` is fast and never touches a port.
"""

import argparse
import sys

from ..errors import EarshotError
from . import (bench, consent, deploy, flash, hil, log, monitor, ports, provision, record, sim,
               status, verify, wakeword)

# name -> (module with setup/run, one-line help)
COMMANDS = {
    "sim": (sim, "run a virtual ESP32-S3 board behind a pseudo-terminal"),
    "deploy": (deploy, "compile the firmware with mpy-cross and copy it to a board"),
    "status": (status, "show firmware version, board, mute and consent state"),
    "monitor": (monitor, "live view of the board's events"),
    "provision": (provision, "give a board its device id and signing key"),
    "consent": (consent, "show or change the household's consent"),
    "log": (log, "read and verify the board's transparency log"),
    "record": (record, "receive, verify and store streamed sessions"),
    "verify": (verify, "verify a captured session stream"),
    "ports": (ports, "list serial ports and which answer as Earshot boards"),
    "flash": (flash, "flash MicroPython and the firmware onto a real board"),
    "hil": (hil, "run the behaviour suite against real boards"),
    "wakeword": (wakeword, "wake-word dataset, training, scoring"),
    "bench": (bench, "run the wake-word pipeline benchmark on a board"),
}


def build_parser():
    parser = argparse.ArgumentParser(
        prog="earshot",
        description="Earshot: privacy firmware for ESP32-S3 microphone boards.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (module, help_text) in COMMANDS.items():
        module.setup(sub.add_parser(name, help=help_text, description=help_text))
    return parser


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    try:
        parser = build_parser()
        args = parser.parse_args(argv)
        if not args.command:
            parser.print_help()
            return 1
        return COMMANDS[args.command][0].run(args) or 0
    except EarshotError as e:
        print("earshot: %s" % e, file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("earshot: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    sys.exit(main())
