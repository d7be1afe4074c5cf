"""The words every command uses for consent, LEDs and board time: one vocabulary, one place.

A consent is always shown as its preset and its flags, `assistant (cloud)`, in the demo, the
log, sessions, status and monitor alike. The tables mirror firmware/earshot/consent.py (the
firmware cannot import host code): tests/test_board_and_host_agree.py checks them against the
firmware and against the legend in docs/sessions.md.
"""

# Consent flag bits, bit 0 first (docs/privacy-contract.md, point 5).
FLAG_NAMES = ("cloud", "human_review", "retain", "training", "preroll")
FLAG_MEANINGS = {
    "cloud": "may leave the home network",
    "human_review": "may be heard by people",
    "retain": "may be stored after use",
    "training": "may train models",
    "preroll": "may include the wake word itself",
}
ALL_FLAGS = (1 << len(FLAG_NAMES)) - 1

# Presets in the order a long press cycles them, with their flags and what they mean.
PRESETS = (
    ("private", 0, "nothing leaves the board"),
    ("assistant", 0b00001, "the assistant hears what follows the wake word"),
    ("history", 0b00101, "the assistant, and recordings are kept for the household"),
    ("contribute", 0b11111, "recordings may be heard by people and train models"),
)
PRESET_NAMES = tuple(name for name, _, _ in PRESETS)

# The status LED legend (docs/sessions.md; firmware consent.COLOURS): colour, colour name,
# what it means. Red is never a status colour: it belongs to the mute LED.
STATUS_LED = {
    "private": ((0, 255, 0), "green", "private: nothing leaves the board"),
    "assistant": ((0, 0, 255), "blue", "assistant: audio after the wake word may leave"),
    "history": ((0, 255, 255), "cyan", "history: the assistant, recordings kept"),
    "contribute": ((255, 128, 0), "amber", "contribute: people may hear, models may train"),
    "custom": ((255, 255, 255), "white", "custom: flags set by a host, no preset"),
    "guest": ((255, 0, 255), "magenta", "guest: everything off for a visitor"),
}
BLINK_MS = 250  # a request waiting for the button: the requested colour blinks, on/off
TEST_MODE_BLINK_MS = 500  # test mode: the status colour alternates with white
UNLOCKED_BLINK_MS = 500  # unlocked at the board: white on, dark, until the next reset
# A log repair not acknowledged at the board: the status colour, dark REPAIR_DARK_MS of every
# REPAIR_FLICKER_MS (firmware/earshot/app.py)
REPAIR_FLICKER_MS = 500
REPAIR_DARK_MS = 100
MUTE_LED = "red, lit: the microphone is off (mute)"
# The household's gesture that allows what a host asked for (firmware/earshot/buttons.py BOTH_MS);
# nothing else uses it, and push-to-talk is ignored while a request waits.
CONFIRM_GESTURE = "hold both buttons together"
# Acknowledging a log repair (firmware/earshot/app.py _acknowledge_repair): the mute button
# held past buttons.LONG_MS (1.5 s); a short press still mutes/unmutes.
REPAIR_ACK_GESTURE = "hold the mute button on the board for 2 seconds"
TEST_MODE_LIGHT = "test mode: a host may play audio into the board"
REPAIR_LIGHT = ("the board repaired its log at start-up and set lines aside (earshot "
                "log says which); to acknowledge, %s" % REPAIR_ACK_GESTURE)


def repair_pending(status):
    """Whether a status reply says a log repair waits to be acknowledged at the board."""
    return bool(((status.get("log") or {}).get("repair") or {}).get("pending"))


def repair_warning(repair):
    """The board's log repair as one household sentence, or None when there is nothing to say
    (status "log" -> "repair": quarantine.py's summary)."""
    if not repair or not repair.get("pending"):
        return None
    return ("the board repaired its log at start-up: %d line(s) (%d bytes) did not check out "
            "and were set aside on the board; every entry that checks out was kept. Someone "
            "or something changed the log, or its flash is failing. To acknowledge, %s."
            % (repair.get("lines", 0), repair.get("bytes", 0), REPAIR_ACK_GESTURE))


# Who may do what with the board (docs/threat-model.md), as `status` and the page say it.
ACCESS = {
    "locked": "locked: the serial port speaks only the Earshot protocol",
    "unlocked": "UNLOCKED at the board until its next reset (REPL and deploy open)",
    "developer": "developer build: the REPL is open to whoever has the port",
}
TEST_MODE = ("the host may play audio into the board (earshot hil; sessions are marked test); "
             "redeploy without --test-mode before it goes back into a home")
# The same, for the household's page: no REPL, no command names.
ACCESS_HOUSEHOLD = {
    "locked": "locked: a computer connected to it can only ask, and what needs the household "
              "waits for its buttons",
    "unlocked": "UNLOCKED at the board for an update until it restarts: a computer connected "
                "to it can change anything",
    "developer": "developer build: any computer connected to it can change anything, its "
                 "signing key included",
}
TEST_MODE_HOUSEHOLD = ("a computer may play audio into the board for testing (its sessions are "
                       "marked as tests); it should be set up again without test mode before "
                       "it goes back into a home")


def flag_names(flags):
    """Consent bit flags -> names, e.g. 0b101 -> ['cloud', 'retain']."""
    return [n for i, n in enumerate(FLAG_NAMES) if flags & (1 << i)]


def flag_bits(names):
    return sum(1 << FLAG_NAMES.index(n) for n in names if n in FLAG_NAMES)


def preset_of(flags, guest=False):
    """The preset name for bit flags (as the firmware names it), 'custom' if none matches."""
    if guest:
        return "guest"
    for name, bits, _ in PRESETS:
        if bits == flags:
            return name
    return "custom"


def consent_text(flags, guest=False, preset=None):
    """`assistant (cloud)`, `private (no flags)`, `guest (everything off)`.

    `flags` is bit flags or a list of names; `preset` defaults to the one the flags match.
    """
    names = flag_names(flags) if isinstance(flags, int) else list(flags)
    preset = preset or preset_of(flag_bits(names), guest)
    if guest:
        return "guest (everything off)"
    return "%s (%s)" % (preset, ", ".join(names) or "no flags")


WHITE = (255, 255, 255)
DARK = (0, 0, 0)


def shown_light(preset, guest=False, waiting=None, test_mode=False, access=None, repair=False):
    """What the status LED shows now, in the firmware's order (app.py _show_status_led):
    unlocked, then a request waiting for the household (a consent: its colour; a key
    replacement: white), then a log repair not yet acknowledged (`repair`: the preset's
    colour, flickering), then the preset (alternating with white in test mode).

    `waiting`: the status reply's `confirm` ({"what", "target"}), or a consent target (the
    preset name a host asked for). Returns {"rgb", "colour", "pattern", "means"}."""
    if access == "unlocked":
        return {"rgb": WHITE, "colour": "white", "pattern": "slow blinking",
                "means": "unlocked at the board for an update, until the next reset (the "
                         "setting, %s, shows again after it)" % ("guest" if guest else preset)}
    if isinstance(waiting, str):
        waiting = {"what": "consent", "target": waiting}
    if waiting and waiting.get("what") == "consent":
        target = waiting.get("target")
        rgb, name, _ = STATUS_LED.get(target, STATUS_LED["custom"])
        return {"rgb": rgb, "colour": name, "pattern": "blinking",
                "means": "waiting for someone to %s on the board to allow %s"
                         % (CONFIRM_GESTURE, target)}
    if waiting:
        return {"rgb": WHITE, "colour": "white", "pattern": "blinking",
                "means": "waiting for someone to %s on the board to allow a new signing key "
                         "(device %s)" % (CONFIRM_GESTURE, waiting.get("target"))}
    rgb, name, meaning = STATUS_LED["guest" if guest else preset if preset in STATUS_LED
                                    else "custom"]
    if repair and test_mode:
        return {"rgb": rgb, "colour": name, "pattern": "flickering, alternating with white",
                "means": "%s; %s; %s" % (meaning, TEST_MODE_LIGHT, REPAIR_LIGHT)}
    if repair:
        return {"rgb": rgb, "colour": name, "pattern": "flickering",
                "means": "%s; %s" % (meaning, REPAIR_LIGHT)}
    if test_mode:
        return {"rgb": rgb, "colour": name, "pattern": "alternating with white",
                "means": "%s; %s" % (meaning, TEST_MODE_LIGHT)}
    return {"rgb": rgb, "colour": name, "pattern": "steady", "means": meaning}


def led_text(preset, waiting=None, test_mode=False, access=None, guest=False, repair=False):
    """What the status LED shows now and what it means, e.g. 'green: private: nothing ...'
    (shown_light, as one line)."""
    light = shown_light(preset, guest, waiting, test_mode, access, repair)
    if light["pattern"] == "steady":
        return "%s: %s" % (light["colour"], light["means"])
    if light["pattern"] == "alternating with white":
        return "%s: %s (alternating with white: test mode)" % (
            light["colour"], light["means"].split("; test mode")[0])
    return "%s, %s: %s" % (light["colour"], light["pattern"], light["means"])


def light_named(rgb, pattern):
    """The status LED as seen (a colour and its pattern, e.g. from `earshot pins`) in the
    legend's words: {"rgb", "colour", "pattern", "means"}."""
    rgb = tuple(rgb)
    name = colour_name(rgb)
    preset = next((p for p, (c, _, _) in STATUS_LED.items() if c == rgb), None)
    if pattern == "off":
        means = "off: not lit (the board is off or starting)"
    elif pattern == "slow blinking" and rgb == WHITE:
        means = "unlocked at the board for an update, until the next reset"
    elif pattern == "blinking" and rgb == WHITE:
        means = "a new signing key waits for someone to %s on the board" % CONFIRM_GESTURE
    elif pattern in ("blinking", "slow blinking"):
        means = "a host's request for %s waits for someone to %s on the board" % (
            preset or name, CONFIRM_GESTURE)
    elif pattern in ("flickering", "flickering, alternating with white",
                     "alternating with white"):
        parts = [STATUS_LED[preset][2] if preset else name]
        if pattern.endswith("alternating with white"):
            parts.append(TEST_MODE_LIGHT)
        if pattern.startswith("flickering"):
            parts.append(REPAIR_LIGHT)
        means = "; ".join(parts)
    else:
        means = STATUS_LED[preset][2] if preset else "not a colour of the legend"
    return {"rgb": list(rgb), "colour": name, "pattern": pattern, "means": means}


def colour_name(rgb):
    """'green' for (0, 255, 0); 'off' for black; the RGB triple for anything else."""
    rgb = tuple(rgb)
    if rgb == (0, 0, 0):
        return "off"
    for colour, name, _ in STATUS_LED.values():
        if colour == rgb:
            return name
    return "rgb%s" % (rgb,)


def legend():
    """The status LED legend, one line per colour, as docs/sessions.md has it."""
    lines = ["%-8s %s" % (name, meaning) for _, name, meaning in STATUS_LED.values()]
    lines.append("%-8s the requested preset's colour (white for a new key), %d ms on, %d ms off: "
                 "a host's request waits for someone to %s" % ("blinking", BLINK_MS, BLINK_MS,
                                                                CONFIRM_GESTURE))
    lines.append("%-8s white %d ms, dark %d ms: unlocked at the board for an update, until the "
                 "next reset" % ("slow", UNLOCKED_BLINK_MS, UNLOCKED_BLINK_MS))
    lines.append("%-8s the status colour, dark %d ms of every %d ms: the board repaired its "
                 "log at start-up; %s to acknowledge" % ("flicker", REPAIR_DARK_MS,
                                                         REPAIR_FLICKER_MS, REPAIR_ACK_GESTURE))
    lines.append("%-8s %s" % ("mute LED", MUTE_LED))
    return lines


def board_clock(ms):
    """Board time (ms since the firmware booted, the audio clock) as every command shows it."""
    return "%8.2fs" % (ms / 1000.0)


# -- the connection to the board, in household words (the page; the CLI keeps the detail) ----


def port_words(port):
    """How this computer reaches the board, without device paths or URLs."""
    port = str(port or "")
    if port.startswith("sim:") or port.startswith("/dev/pts/"):
        return "a virtual board on this computer"
    if "://" in port:
        return "over the home network"
    return "by its cable to this computer"


# (what the technical message contains, what a household member reads); the first match wins
_LINK_WORDS = (
    (("busy",), "another program on this computer is using the board's connection"),
    (("gave that device id to another board",),
     "this board has the name this computer gave another board: it needs a name of its own"),
    (("permission denied",), "this computer does not let the page use the board's connection "
                             "(a setting on the computer)"),
    (("repl", "firmware is not running", "not an earshot board", "speaks earshot protocol",
      "run earshot deploy"), "the board is not running its Earshot software (it may be being "
                              "updated)"),
    (("cannot read",), "the board sent something this page does not understand"),
    (("no answer",), "the board stopped answering"),
    (("went away", "no such port", "nothing answers", "no host", "not a port",
      "not a serial port", "cannot open"), "the board is unplugged, switched off or out of "
                                           "reach"),
    (("dashboard is stopping",), "the page's program on this computer is stopping"),
)


def link_words(error):
    """A connection error (pyserial's, the protocol's) as one household phrase."""
    text = str(error or "").lower()
    for needles, words in _LINK_WORDS:
        if any(n in text for n in needles):
            return words
    return "the board cannot be reached"
