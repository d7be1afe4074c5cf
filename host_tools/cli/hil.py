"""earshot hil: the behaviour suite `make test` runs on the virtual board, on real boards.

Each board (--port, or a labgrid --place) runs the whole suite in its own process, in parallel
(host_tools.hil.runner). Every board is checked first: a board that is not ready stops the run
with one line saying how to fix it.
"""

import os


def setup(p):
    p.add_argument("--port", "-p", action="append", default=[],
                   help="a board deployed with --test-mode: a serial device, a pyserial URL, or "
                        "sim[:NAME] (a running earshot sim, with its buttons, power and pins); "
                        "repeat for a rack")
    p.add_argument("--place", action="append", default=[],
                   help="a labgrid place: acquired for the run, reached over the network "
                        "(serial through ser2net, buttons and power through its drivers), "
                        "released at the end; repeat for a rack")
    p.add_argument("--coordinator", metavar="HOST:PORT",
                   help="labgrid coordinator (default: $LG_COORDINATOR, else 127.0.0.1:20408)")
    p.add_argument("--lg-env", metavar="YAML",
                   help="a labgrid environment naming the places' drivers (default: found by "
                        "the resource names of docs/hil-rig.md)")
    p.add_argument("--board", metavar="ID",
                   help="board file id of those boards (checked against what they report)")
    p.add_argument("--key-file", metavar="FILE",
                   help="the board's signing key (earshot provision wrote it), to verify its "
                        "sessions; one board only")
    p.add_argument("--keys", metavar="DIR", default="keys",
                   help="directory of <device id>.key files, for a rack (default: ./keys)")
    p.add_argument("-k", dest="keyword", metavar="EXPR",
                   help="only tests matching this pytest expression")
    p.add_argument("--junit", metavar="FILE", help="also write a JUnit XML report here")


def run(args):
    import signal

    from ..errors import EarshotError, UsageError
    from ..hil.runner import run_suite, summarise

    if not args.port and not args.place:
        raise UsageError("no board given: pass --port PORT (a deployed board, or sim:NAME) or "
                           "--place NAME (a labgrid place); repeat for a rack")
    if args.key_file and len(args.port) + len(args.place) > 1:
        raise UsageError("--key-file is one board's key: for a rack, keep each board's key "
                           "as DIR/<device id>.key and pass --keys DIR")
    if args.key_file and not os.path.isfile(args.key_file):
        raise EarshotError("--key-file %s: no such file (earshot provision wrote keys/<device "
                           "id>.key)" % args.key_file)
    if args.board:
        from ..board.files import load as load_board
        load_board(args.board)  # an unknown board id is said before any board is touched
    if args.junit:
        _check_writable(args.junit)  # said now, not after a run of minutes
    if os.path.exists(args.keys) and not os.path.isdir(args.keys):
        raise EarshotError("--keys %s is a file: give the directory of <device id>.key files"
                           % args.keys)
    common = ["--earshot-keys", os.path.abspath(args.keys)]
    if args.key_file:
        common += ["--earshot-key-file", os.path.abspath(args.key_file)]
    if args.board:
        common += ["--earshot-board", args.board]
    # A CI job's timeout (SIGTERM) stops the run as cleanly as Ctrl-C: places are released.
    signal.signal(signal.SIGTERM, _interrupt)
    boards = _port_boards(args.port, common)
    with _places(args, common) as place_boards:
        codes, junit, reports = run_suite(boards + place_boards, args.keyword, args.junit)
    rows = summarise(junit)
    print("\nper board:")
    for rep in reports:
        name = rep.get("board")
        row = rows.get(name, {"passed": 0, "failed": 0, "skipped": 0, "skips": {},
                              "failures": []})
        print("  %-24s %3d passed %3d failed %3d skipped"
              % (name, row["passed"], row["failed"], row["skipped"]))
        for test, why in row["failures"]:
            print("  %-24s     FAILED %s: %s" % ("", test, why[:100]))
        for reason, n in sorted(row["skips"].items()):
            print("  %-24s     %d skipped: %s" % ("", n, reason))
        left = rep.get("left")
        if left:
            print("  %-24s     left: %s" % ("", "; ".join(left)))
        elif "left" in rep:
            print("  %-24s     given back as found (identity, consent, mute)" % "")
    if args.junit:
        print("JUnit report: %s" % args.junit)
    ran = sum(row["passed"] + row["failed"] + row["skipped"] for row in rows.values())
    if not ran:  # pytest's 5: nothing collected; a run that tested nothing did not pass
        raise EarshotError("no test ran%s: `earshot hil --help`; the suite's tests are in %s"
                           % (" (-k %s matched none)" % args.keyword if args.keyword else "",
                              _suite_dir()))
    return 0 if all(c in (0, 5) for c in codes) else 1


def _check_writable(path):
    from ..errors import EarshotError

    folder = os.path.dirname(os.path.abspath(path))
    if os.path.isdir(path):
        raise EarshotError("--junit %s is a directory: give a file name" % path)
    if not os.path.isdir(folder):
        raise EarshotError("--junit %s: there is no folder %s to write it in" % (path, folder))
    existed = os.path.exists(path)
    try:  # the one sure test (root passes os.access, /proc refuses new files): try, then undo
        with open(path, "a"):
            pass
    except OSError as e:
        raise EarshotError("--junit %s: cannot write it (%s)" % (path, e.strerror)) from None
    if not existed:
        os.unlink(path)


def _suite_dir():
    from ..resources import hil_suite_dir

    return hil_suite_dir()


def _port_boards(ports, common):
    from ..errors import EarshotError
    from ..hil.runner import Board
    from ..link.target import resolve

    boards, seen = [], set()
    for spec in ports:
        target = resolve(spec)
        if target.port in seen:
            raise EarshotError("%s is given twice: each board needs its own --port" % spec)
        seen.add(target.port)
        rig = "sim:%s" % target.sim["name"] if target.sim else "none"
        boards.append(Board(spec, ["--earshot-port", target.port, "--earshot-rig", rig,
                                   *common]))
    return boards


def _places(args, common):
    from contextlib import nullcontext

    if not args.place:
        return nullcontext([])
    from ..hil.lab import Places

    return Places(args.place, args.coordinator, args.lg_env, common)


def _interrupt(signum, frame):
    raise KeyboardInterrupt
