"""`earshot ports`: serial ports, what sits behind each, and which answer as an Earshot board."""

import json


def setup(parser):
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.add_argument("--no-probe", action="store_true",
                        help="only list ports, do not ask them whether they are Earshot boards")


def _earshot_column(result):
    state = result["state"]
    held = result.get("shared_by")
    # Open in another earshot process: every earshot command still reaches it (link/share.py).
    via = (" (open in earshot %s, pid %s: commands reach it through it)"
           % (held.get("owner"), held.get("pid"))) if held else ""
    if state == "earshot":
        info = result.get("info") or {}
        details = " ".join(str(info[k]) for k in ("board", "version") if info.get(k))
        return ("EARSHOT " + details if details else "EARSHOT") + via
    if state == "shared":
        return "in use" + via
    return {"no": "-", "busy": "busy (in use)", "denied": "permission denied",
            "unknown": "? (no probe in this build)"}.get(state, "error: %s" % result.get("error"))


def run(args):
    from ..errors import EarshotError
    from ..link.ports import list_ports

    try:
        ports = list_ports(probe=not args.no_probe)
    except ImportError:
        raise EarshotError("pyserial is missing: pip install pyserial") from None
    if args.json:
        print(json.dumps(ports, indent=2))
        return 0
    if not ports:
        print("no serial ports found: plug a board in (a data cable, not a charge-only one), "
              "or start a virtual board with earshot sim")
        return 0
    rows = [("PORT", "VID:PID", "KIND", "DESCRIPTION", "" if args.no_probe else "EARSHOT")]
    for p in ports:
        rows.append((p["port"], p["vid_pid"] or "-", p["kind"] or "-", p["description"] or "-",
                     "" if args.no_probe else _earshot_column(p["earshot"])))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for r in rows:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip())
    if any(p["earshot"]["state"] == "denied" for p in ports if "earshot" in p):
        print("some ports are not readable: join the 'dialout' group (or 'uucp' on Arch), "
              "then log in again")
    return 0
