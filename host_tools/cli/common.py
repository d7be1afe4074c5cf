"""What the command modules share: the --port and --json options, and how progress is shown.

Exit statuses (README "Exit status"): 0 done; 1 the command failed, with one line
`earshot: ...` on stderr saying why and how to fix it; 2 the command line itself is wrong
(argparse's usage message); 130 interrupted with Ctrl-C.
"""

import argparse
import contextlib
import json
import math
import os
import sys

OK, FAILED, USAGE, INTERRUPTED = 0, 1, 2, 130


class Number:
    """The argparse type of every numeric option: a finite int or float within [low, high].

    NaN, inf, a negative count and a value out of range are a wrong command line (argparse's
    usage, exit status 2), refused before anything is opened, created or started. `above`
    makes `low` itself wrong too (seconds must be more than 0).
    """

    def __init__(self, kind=float, low=None, high=None, above=False, of=""):
        self.kind, self.low, self.high, self.above, self.of = kind, low, high, above, of
        self.what = "whole number" if kind is int else "number"

    def __call__(self, text):
        try:
            value = self.kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError("%r is not a %s" % (text, self.what)) from None
        too_low = self.low is not None and (value <= self.low if self.above
                                            else value < self.low)
        too_high = self.high is not None and value > self.high
        if not math.isfinite(value) or too_low or too_high:
            raise argparse.ArgumentTypeError("%s: give %s" % (text, self.wanted()))
        return value

    def wanted(self):
        bounds = []
        if self.low is not None:
            bounds.append("%s %s" % ("above" if self.above else "at least", _plain(self.low)))
        if self.high is not None:
            bounds.append("at most %s" % _plain(self.high))
        words = ["a", self.what] + (["of " + self.of] if self.of else [])
        return " ".join(words + ([" and ".join(bounds)] if bounds else []))


def _plain(value):
    return "%d" % value if float(value).is_integer() else "%g" % value


def nonempty(text):
    """The argparse type of an option that names something (a board file, a model, a word):
    an empty or blank name is a wrong command line, never "the default" in disguise."""
    if not text.strip():
        raise argparse.ArgumentTypeError("%r is an empty name: give one (--help says which)"
                                         % text)
    return text


SECONDS = Number(float, low=0, above=True, of="seconds")  # how long: more than 0, finite


def add_port_argument(parser, what="the board", default=None):
    parser.add_argument(
        "--port", "-p", default=default or os.environ.get("EARSHOT_PORT") or None, metavar="PORT",
        help="%s: a serial device (/dev/ttyACM0), a pyserial URL (socket://HOST:PORT, "
             "rfc2217://HOST:PORT), 'sim' for the virtual board started without --name (else the "
             "only one running) or 'sim:NAME' for a named one (default: $EARSHOT_PORT)" % what)


def add_sim_port_argument(parser):
    parser.add_argument(
        "--port", "-p", default=os.environ.get("EARSHOT_PORT") or "sim", metavar="sim[:NAME]",
        help="the running virtual board: 'sim' (the one started without --name, else the only "
             "one), 'sim:NAME', or its serial device /dev/pts/N (default: $EARSHOT_PORT, else "
             "sim)")


def add_history_argument(parser):
    parser.add_argument("--history", metavar="FILE", default=None,
                        help="receiver history (default: $EARSHOT_HISTORY, else receiver.json "
                             "in $EARSHOT_STATE_DIR, $EARSHOT_HOME/state or "
                             "~/.local/state/earshot)")


def add_json_argument(parser, what="the result", default=False):
    parser.add_argument("--json", action="store_true", default=default,
                        help="print %s as JSON on stdout (no progress lines)" % what)


def print_json(obj):
    print(json.dumps(obj, indent=1, sort_keys=True), flush=True)


class Progress:
    """Progress for a person: plain lines on stdout (never prefixed `earshot:`, which marks an
    error), a rich progress bar for per-file steps on a terminal; silent with --json."""

    def __init__(self, quiet=False, prefix=""):
        self.quiet = quiet
        self.prefix = prefix

    def __call__(self, message):
        if not self.quiet:
            print(self.prefix + message, flush=True)

    @contextlib.contextmanager
    def files(self, total, what="copying"):
        """A callback advance(name) for `total` files: a bar on a terminal, else nothing."""
        if self.quiet or not sys.stdout.isatty():
            yield lambda name: None
            return
        from rich.progress import BarColumn, MofNCompleteColumn, Progress as Bar, TextColumn

        with Bar(TextColumn(self.prefix + what), BarColumn(), MofNCompleteColumn(),
                 TextColumn("{task.description}"), transient=True) as bar:
            task = bar.add_task("", total=total)
            yield lambda name: bar.update(task, advance=1, description=name)


class Countdown:
    """`waiting: hold both buttons together on the board: 7 s`, one line a second (redrawn in
    place on a terminal)."""

    def __init__(self, quiet=False):
        self.quiet = quiet
        self.shown = None
        self.tty = sys.stdout.isatty()

    def __call__(self, seconds_left):
        s = int(seconds_left + 0.999)
        if s == self.shown or self.quiet:
            return
        if self.shown is None or self.tty:
            end = "\r" if self.tty else "\n"
            from ..vocabulary import CONFIRM_GESTURE

            print("waiting: %s on the board: %2d s " % (CONFIRM_GESTURE, s), end=end, flush=True)
        self.shown = s

    def finish(self):
        if self.tty and self.shown is not None and not self.quiet:
            print()
