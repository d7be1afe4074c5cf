"""earshot status: firmware, board, mute, consent, gate, what the LEDs show and mean, uptime."""

from .common import add_json_argument, add_port_argument


def setup(p):
    add_port_argument(p)
    add_json_argument(p, "the board's status")


def format_status(s):
    from ..vocabulary import (ACCESS, CONFIRM_GESTURE, FLAG_MEANINGS, TEST_MODE, board_clock,
                              consent_text, led_text, legend, repair_pending, repair_warning)

    c = s.get("consent") or {}
    # What waits for the household's gesture: the board's `confirm` (a consent change or a key
    # replacement; firmware older than it reports only a consent's `pending`).
    waiting = s.get("confirm") or c.get("pending")
    muted = bool(s.get("muted"))
    flags = c.get("flags") or []
    may = "; ".join("%s %s" % (f, FLAG_MEANINGS.get(f, "")) for f in flags) if not c.get(
        "guest") else ""
    if muted:
        gate = "closed: the microphone is off, nothing is heard"
    elif s.get("gate") == "listening":
        gate = "listening for the wake word, on the board only"
    elif s.get("gate") in ("open", "closing"):
        gate = "streaming a signed session (%s)" % s["gate"]
    else:
        gate = str(s.get("gate"))
    lines = [
        "firmware  %s (protocol v%s)" % (s.get("version"), s.get("protocol")),
        "board     %s%s" % (s.get("board"),
                            " (chip %s)" % s["chip_id"] if s.get("chip_id") else ""),
        "device    %s" % (s.get("device_id") or "not provisioned (earshot provision)"),
        "mute      %s" % ("MUTED: microphone off, mute LED lit" if muted
                          else "unmuted: microphone on, mute LED off"),
        "consent   %s%s" % (consent_text(flags, c.get("guest"), c.get("preset")),
                            ": " + may if may else ": nothing leaves the board"),
        "gate      %s" % gate,
        "wake word %s" % (s.get("wake_word") or "none (push-to-talk only; earshot deploy "
                                                "--wake-word NAME)"),
        "access    %s" % ACCESS.get(s.get("access"), s.get("access") or "?"),
        "LED       %s" % led_text(c.get("preset"), waiting, s.get("test_mode"),
                                  s.get("access"), c.get("guest"),
                                  repair_pending(s)),
    ]
    if s.get("hardware_muted"):
        lines[3] = "mute      MUTED by the mute switch: slide it to unmute"
    if s.get("mic_fault"):
        lines.append("mic       cannot start: %s" % s["mic_fault"])
    if s.get("audio_lost_ms"):
        lines.append("audio     %d ms lost since boot (the loop fell behind the microphone)"
                     % s["audio_lost_ms"])
    if isinstance(waiting, dict) and waiting.get("what") == "provision":
        lines.append("waiting   a new signing key for device %s: %s on the board to allow it "
                     "(if you did not ask for it, do nothing)" % (waiting.get("target"),
                                                                 CONFIRM_GESTURE))
    elif waiting:
        target = waiting.get("target") if isinstance(waiting, dict) else waiting
        lines.append("waiting   %s: %s on the board to allow it" % (target, CONFIRM_GESTURE))
    if isinstance(waiting, dict) and waiting.get("by"):
        lines.append("asked by  %s (as that computer names itself)" % waiting["by"])
    if s.get("request_cooldown_s"):
        lines.append("requests  a request was just withdrawn: the board takes a new one in "
                     "%d s" % s["request_cooldown_s"])
    if s.get("test_mode"):
        lines.append("TEST MODE " + TEST_MODE)
    repair = repair_warning((s.get("log") or {}).get("repair"))
    if repair:
        lines.append("LOG       WARNING: " + repair)
    lines.append("uptime    %s" % board_clock(s.get("uptime_ms", 0)).strip())
    lines.append("legend    " + "\n          ".join(legend()))
    return "\n".join(lines)


def run(args):
    from ..link.client import Client
    from ..link.target import resolve
    from .common import print_json

    with Client(resolve(args.port).port) as board:
        status = board.hello()
    status = {k: v for k, v in status.items() if k not in ("ev", "re", "ok")}
    if args.json:
        print_json(status)
        return 0
    print(format_status(status))
    return 0
