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
MUTE_LED = "red, lit: the microphone is off (mute)"
# The household's gesture that allows what a host asked for (firmware/earshot/buttons.py BOTH_MS);
# nothing else uses it, and push-to-talk is ignored while a request waits.
CONFIRM_GESTURE = "hold both buttons together"


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


def led_text(preset, waiting_for=None, test_mode=False, access=None):
    """What the status LED shows now and what it means, e.g. 'green: private: nothing ...'.

    The firmware's order (app.py _show_status_led): unlocked, then a waiting request, then
    the preset (alternating with white in test mode)."""
    if access == "unlocked":
        return ("white, slow blinking: unlocked at the board for an update, until the next "
                "reset (the preset, %s, shows again after it)" % preset)
    if waiting_for:
        _, name, _ = STATUS_LED.get(waiting_for, STATUS_LED["custom"])
        text = "%s, blinking: waiting for someone to %s on the board to allow %s" % (
            name, CONFIRM_GESTURE, waiting_for)
    else:
        _, name, meaning = STATUS_LED.get(preset, STATUS_LED["custom"])
        text = "%s: %s" % (name, meaning)
    if test_mode:
        text += " (alternating with white: test mode)"
    return text


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
    lines.append("%-8s %s" % ("mute LED", MUTE_LED))
    return lines


def board_clock(ms):
    """Board time (ms since the firmware booted, the audio clock) as every command shows it."""
    return "%8.2fs" % (ms / 1000.0)
