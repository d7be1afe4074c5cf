"""earshot status: firmware version, board, mute and consent state, uptime."""

import json

from .common import add_port_argument


def setup(p):
    add_port_argument(p)
    p.add_argument("--json", action="store_true", help="print the raw status as JSON")


def format_status(s):
    consent = s.get("consent") or {}
    flags = ", ".join(consent.get("flags") or []) or "none"
    lines = [
        "firmware  %s (protocol v%s)" % (s.get("version"), s.get("protocol")),
        "board     %s" % s.get("board"),
        "device    %s" % (s.get("device_id") or "not provisioned (earshot provision)"),
        "mute      %s" % ("MUTED: microphone off" if s.get("muted") else "unmuted: listening for the wake word"),
        "consent   %s%s (may: %s)" % (consent.get("preset"), " [guest]" if consent.get("guest") else "", flags),
        "gate      %s" % s.get("gate"),
        "uptime    %.1f s" % (s.get("uptime_ms", 0) / 1000.0),
    ]
    if s.get("hardware_muted"):
        lines[3] = "mute      MUTED by the mute switch: slide it to unmute"
    if s.get("mic_fault"):
        lines.append("mic       cannot start: %s" % s["mic_fault"])
    if s.get("audio_lost_ms"):
        lines.append("audio     %d ms lost since boot (the loop fell behind the microphone)"
                     % s["audio_lost_ms"])
    if consent.get("pending"):
        lines.append("pending   %s: press the action button on the board to allow" % consent["pending"])
    return "\n".join(lines)


def run(args):
    from ..link.client import Client
    from ..link.target import open_target

    with open_target(args.port) as port, Client(port) as board:
        status = board.hello()
    status = {k: v for k, v in status.items() if k not in ("ev", "re", "ok")}
    print(json.dumps(status, indent=1) if args.json else format_status(status))
    return 0
