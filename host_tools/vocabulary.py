"""The words every command uses for consent and LEDs: one vocabulary, one place.

The tables mirror firmware/earshot/consent.py (the firmware cannot import host code):
tests/test_legend_card.py checks them against the firmware's own COLOURS, PRESETS, FLAG_NAMES
and BLINK_MS.
"""

# Consent flag bits, bit 0 first (docs/sessions.md, "Consent").
FLAG_NAMES = ("cloud", "human_review", "retain", "training", "preroll")
FLAG_MEANINGS = {
    "cloud": "may leave the home network",
    "human_review": "may be heard by people",
    "retain": "may be stored after use",
    "training": "may train models",
    "preroll": "may include the wake word itself",
}

# Presets in the order a long press cycles them, with their flags and what they mean.
PRESETS = (
    ("private", 0b00000, "nothing leaves the board"),
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
MUTE_LED = "red, lit: the microphone is off (mute)"


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
