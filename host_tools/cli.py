"""The `earshot` command: one dispatch table of subcommands, in the style of mpremote.

Each subcommand lives in its own module under `host_tools/` exposing
`setup(parser)` (argparse arguments) and `run(args) -> int`. Modules are imported
only when their command runs, so `earshot --help` never touches a port or numpy.
"""

import argparse
import importlib
import sys

from .errors import EarshotError

# name -> (module, one-line help)
COMMANDS = {
    "sim": ("host_tools.cmd_sim", "run a virtual ESP32-S3 board behind a pseudo-terminal"),
    "deploy": ("host_tools.cmd_deploy", "compile the firmware with mpy-cross and copy it to a board"),
    "status": ("host_tools.cmd_status", "show firmware version, board, mute and consent state"),
    "monitor": ("host_tools.cmd_monitor", "live view of the board's events"),
    "provision": ("host_tools.cmd_provision", "give a board its device id and signing key"),
    "consent": ("host_tools.cmd_consent", "show or change the household's consent"),
    "log": ("host_tools.cmd_log", "read and verify the board's transparency log"),
    "record": ("host_tools.cmd_record", "receive, verify and store streamed sessions"),
    "verify": ("host_tools.cmd_verify", "verify a captured session stream"),
    "ports": ("host_tools.cmd_ports", "list serial ports and which answer as Earshot boards"),
    "flash": ("host_tools.cmd_flash", "flash MicroPython and the firmware onto a real board"),
    "hil": ("host_tools.cmd_hil", "run the behaviour suite against real boards"),
    "wakeword": ("host_tools.cmd_wakeword", "wake-word dataset, training, scoring"),
    "bench": ("host_tools.cmd_bench", "run the wake-word pipeline benchmark on a board"),
}


def _load(name):
    module_name, _ = COMMANDS[name]
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError as e:
        if e.name == module_name:
            raise EarshotError("command '%s' is not available in this build" % name) from None
        raise


def build_parser(argv):
    parser = argparse.ArgumentParser(
        prog="earshot",
        description="Earshot: privacy firmware for ESP32-S3 microphone boards.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    # Only the chosen command's module is imported; the others get a help stub.
    chosen = next((a for a in argv if not a.startswith("-")), None)
    for name, (_, help_text) in COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        if name == chosen:
            _load(name).setup(p)
    return parser


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    try:
        parser = build_parser(argv)
        args = parser.parse_args(argv)
        if not args.command:
            parser.print_help()
            return 1
        return _load(args.command).run(args) or 0
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
