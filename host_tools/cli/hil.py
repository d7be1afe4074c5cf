"""earshot hil: the behaviour suite that `make test` runs on the virtual board, on real boards.

Several --port values run in parallel, each board the whole suite (host_tools.hil.runner).
"""


def setup(p):
    p.add_argument("--port", "-p", action="append", required=True,
                   help="a board deployed with --test-mode: a serial port, a pyserial URL or "
                        "sim[:NAME] (repeat for a rack of boards)")
    p.add_argument("--board", metavar="ID",
                   help="board file id of those boards (lets the suite redeploy)")
    p.add_argument("-k", dest="keyword", metavar="EXPR",
                   help="only tests matching this pytest expression")
    p.add_argument("--junit", metavar="FILE", help="also write a JUnit XML report here")


def run(args):
    from ..errors import EarshotError
    from ..hil.runner import run_suite, summarise
    from ..link.target import resolve

    ports = [resolve(p).port for p in args.port]
    if len(set(ports)) != len(ports):
        raise EarshotError("a port is given twice: each board needs its own --port")
    codes, junit = run_suite(ports, args.board, args.keyword, args.junit)
    print("\nper board:")
    for port, row in sorted(summarise(junit).items()):
        print("  %-20s %3d passed %3d failed %3d skipped"
              % (port, row["passed"], row["failed"], row["skipped"]))
        for reason, n in sorted(row["skips"].items()):
            print("  %-20s     %d skipped: %s" % ("", n, reason))
    if args.junit:
        print("JUnit report: %s" % args.junit)
    return 0 if all(c in (0, 5) for c in codes) else 1
