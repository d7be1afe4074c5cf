"""The household's words: consent flags in plain language and the LED legend card.

Colours, presets and timings come from host_tools.vocabulary (which mirrors the firmware's
consent.COLOURS and buttons.py; tests/test_legend_card.py checks both). This module adds only
what a person needs: what each light means and what they can do about it. The dashboard shows
these rows, and `make led-card` (python -m host_tools.legend docs) writes the printable card:
docs/led-card.md, docs/led-card.svg and docs/led-card.png (tests/test_legend_card.py fails if
the committed card and this data disagree).
"""

import hashlib
import html
import struct
import sys
import zlib
import textwrap
from dataclasses import dataclass
from pathlib import Path

from . import vocabulary as v

# What each consent flag means, as the page says it ("may leave the home: yes").
PLAIN_FLAGS = (
    ("cloud", "may leave the home"),
    ("human_review", "people may listen"),
    ("retain", "kept"),
    ("training", "used for training"),
    ("preroll", "includes the seconds before the wake word"),
)
CONFIRM_GESTURE = v.CONFIRM_GESTURE + " on the board for half a second"
LONG_PRESS_S = 1.5  # firmware/earshot/buttons.py LONG_MS
VERY_LONG_PRESS_S = 4.0  # firmware/earshot/buttons.py VERY_LONG_MS
CONFIRM_S = 30  # firmware/earshot/confirm.py CONFIRM_MS
MUTE_RED = (255, 0, 0)


@dataclass(frozen=True)
class Light:
    led: str  # "mute LED" or "status LED"
    rgb: tuple  # the colour lit; (0, 0, 0) for off
    colour: str  # its name
    pattern: str  # "steady", "off", "blinking", "flickering", "alternating with white"
    means: str
    you_can: str


def status_light(preset):
    """The status LED row for a preset name (or guest / custom)."""
    rgb, name, _ = v.STATUS_LED[preset]
    return Light("status LED", rgb, name, "steady", *_STATUS[preset])


_NEXT = dict(zip(v.PRESET_NAMES, v.PRESET_NAMES[1:] + v.PRESET_NAMES[:1]))


def _cycle(preset):
    return ("Hold the action button %.1f s for the next setting (%s); hold it %g s for guest "
            "mode." % (LONG_PRESS_S, _NEXT[preset], VERY_LONG_PRESS_S))


# What each preset's status light means and what the household can do: (means, you_can).
_STATUS = {
    "private": (
        "Private: nothing leaves the board, not even after the wake word.",
        _cycle("private")),
    "assistant": (
        "Assistant: what you say after the wake word may leave the home. It is not kept, "
        "nobody listens to it, it trains nothing.", _cycle("assistant")),
    "history": (
        "History: like assistant, and recordings are kept for the household.",
        _cycle("history")),
    "contribute": (
        "Contribute: recordings may be heard by people, kept, used to train models, and "
        "include the seconds before the wake word.", _cycle("contribute")),
    "custom": (
        "Custom: a computer chose a mix of permissions that is none of the settings.",
        "Hold the action button %.1f s to return to the settings cycle." % LONG_PRESS_S),
    "guest": (
        "Guest mode: everything is off for a visitor; nothing leaves the board.",
        "Hold the action button %g s to end guest mode (back to private)."
        % VERY_LONG_PRESS_S),
}


def card():
    """Every light the household can see, in the order the card prints them."""
    rows = [
        Light("mute LED", MUTE_RED, "red", "steady",
              "The microphone is off: its power is cut. Nothing is heard, nothing is sent.",
              "Press the mute button to turn the microphone on. Only the button can: no app "
              "or computer is able to."),
        Light("mute LED", (0, 0, 0), "off", "off",
              "The microphone is on, listening on the board only for the wake word.",
              "Press the mute button to cut the microphone at once."),
    ]
    rows += [status_light(p) for p in v.STATUS_LED]
    rows.append(Light(
        "status LED", v.STATUS_LED["assistant"][0], "the requested setting's colour",
        "blinking (%d ms on, %d ms off)" % (v.BLINK_MS, v.BLINK_MS),
        "A phone or computer asks for a less private setting (the colour it asks for "
        "blinks). Nothing changes unless someone at the board agrees.",
        "To allow it, see it blink, then %s within %d s. To refuse, do nothing." % (
            CONFIRM_GESTURE, CONFIRM_S)))
    rows.append(Light(
        "status LED", v.STATUS_LED["custom"][0], "white",
        "blinking (%d ms on, %d ms off)" % (v.BLINK_MS, v.BLINK_MS),
        "A computer asks to give the board a new signing key (a change of who can vouch for "
        "what it sends). Nothing changes unless someone at the board agrees.",
        "If you expected it, see it blink, then %s within %d s. Otherwise do nothing." % (
            CONFIRM_GESTURE, CONFIRM_S)))
    rows.append(Light(
        "status LED", v.STATUS_LED["custom"][0], "white",
        "slow blinking (%d ms on, %d ms off)" % (v.UNLOCKED_BLINK_MS, v.UNLOCKED_BLINK_MS),
        "Unlocked for an update: someone held both buttons while it started. Its software can "
        "be changed until it restarts; the microphone stays off until the mute button is pressed.",
        "If nobody in the home is updating it, unplug it and plug it in again: it locks again."))
    rows.append(Light(
        "status LED", v.STATUS_LED["private"][0], "the setting's colour",
        "flickering (dark %d ms of every %d ms)" % (v.REPAIR_DARK_MS, v.REPAIR_FLICKER_MS),
        "The board found its log of what it did changed or damaged when it started, and set "
        "the lines that did not check out aside. Every entry that checks out was kept.",
        "Ask who set it up to look at the log (earshot log says which lines). Then hold the "
        "mute button for 2 seconds: the flicker stops; the lines stay kept aside."))
    rows.append(Light(
        "status LED", v.STATUS_LED["private"][0], "the setting's colour", "alternating with white "
        "(%d ms)" % v.TEST_MODE_BLINK_MS,
        "Test mode: a developer may feed recorded audio into the board.",
        "If nobody in the home is testing it, unplug the board and ask who set it up."))
    return rows


# --- the printable card ------------------------------------------------------------------------

TITLE = "What the lights on your Earshot microphone mean"


def markdown():
    lines = ["# %s" % TITLE, "",
             "<!-- Generated by `python -m host_tools.legend` from host_tools/legend.py; "
             "do not edit. -->", "",
             "![The LED legend card](led-card.svg)", "",
             "| light | looks like | it means | you can |", "|---|---|---|---|"]
    for r in card():
        lines.append("| %s | %s, %s | %s | %s |" % (r.led, r.colour, r.pattern, r.means,
                                                    r.you_can))
    lines += ["", "Red always belongs to the mute LED: the status LED is never red.", ""]
    return "\n".join(lines)


_W = 880
_ROW_H_LINE = 19
_X_LED, _X_MEANS, _X_CAN = 56, 250, 575


def _wrap(text, width):
    return textwrap.wrap(text, width) or [""]


def _led_svg(r, cx, cy):
    fill = "#%02x%02x%02x" % r.rgb
    if r.pattern == "off":
        return ('<circle cx="%d" cy="%d" r="15" fill="#ffffff" stroke="#444" '
                'stroke-width="2" stroke-dasharray="4 3"/>' % (cx, cy))
    parts = ['<circle cx="%d" cy="%d" r="15" fill="%s" stroke="#222" stroke-width="1.5"/>'
             % (cx, cy, fill)]
    if r.pattern.startswith(("blinking", "slow blinking", "flickering")):
        parts.append('<circle cx="%d" cy="%d" r="15" fill="#ffffff" stroke="#444" '
                     'stroke-width="2" stroke-dasharray="4 3"/>' % (cx + 40, cy))
    elif r.pattern.startswith("alternating"):
        parts.append('<circle cx="%d" cy="%d" r="15" fill="#ffffff" stroke="#222" '
                     'stroke-width="1.5"/>' % (cx + 40, cy))
    return "".join(parts)


def svg():
    rows = card()
    out = []
    y = 100
    for r in rows:
        label = _wrap("%s: %s" % (r.led, r.colour) if r.pattern == "off" else
                      "%s: %s, %s" % (r.led, r.colour, r.pattern), 22)
        means = _wrap(r.means, 42)
        can = _wrap(r.you_can, 40)
        n = max(len(label) + 1, len(means), len(can))
        h = n * _ROW_H_LINE + 22
        out.append('<line x1="20" y1="%d" x2="%d" y2="%d" stroke="#999"/>' % (y, _W - 20, y))
        out.append(_led_svg(r, _X_LED - 20, y + 28))
        for col, x, lines, weight in ((label, 20, None, "bold"), (means, _X_MEANS, None, ""),
                                      (can, _X_CAN, None, "")):
            ty = y + 66 if col is label else y + 24
            for i, line in enumerate(col):
                out.append('<text x="%d" y="%d"%s>%s</text>' % (
                    x, ty + i * _ROW_H_LINE, ' font-weight="bold"' if weight else "",
                    html.escape(line)))
        y += max(h, 66 + len(label) * _ROW_H_LINE)
    height = y + 50
    head = [
        '<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" '
        'font-family="DejaVu Sans, Verdana, sans-serif" font-size="14" fill="#111">'
        % (_W, height, _W, height),
        '<title>%s</title>' % html.escape(TITLE),
        '<rect width="100%" height="100%" fill="#ffffff"/>',
        '<text x="20" y="40" font-size="22" font-weight="bold">%s</text>' % html.escape(TITLE),
        '<text x="%d" y="88" font-weight="bold">It means</text>' % _X_MEANS,
        '<text x="%d" y="88" font-weight="bold">You can</text>' % _X_CAN,
    ]
    tail = ['<line x1="20" y1="%d" x2="%d" y2="%d" stroke="#999"/>' % (y, _W - 20, y),
            '<text x="20" y="%d">Red always belongs to the mute LED: the status LED is never '
            'red. A dashed circle is an LED that is off.</text>' % (y + 30), "</svg>"]
    return "\n".join(head + out + tail) + "\n"


def png(svg_text):
    """The card as a PNG (cairosvg, renders offline) with the SVG's SHA-256 in a tEXt chunk,
    so a test can tell the PNG was made from the current SVG without rendering it again."""
    import cairosvg

    data = cairosvg.svg2png(bytestring=svg_text.encode(), output_width=_W)
    text = b"earshot-svg-sha256\x00" + hashlib.sha256(svg_text.encode()).hexdigest().encode()
    chunk = struct.pack(">I", len(text)) + b"tEXt" + text + struct.pack(
        ">I", zlib.crc32(b"tEXt" + text))
    return data[:33] + chunk + data[33:]  # after the signature (8) and IHDR (25)


def png_svg_hash(data):
    """The SVG hash png() stored in a PNG, or None."""
    i = data.find(b"tEXtearshot-svg-sha256\x00")
    return data[i + 23 : i + 87].decode() if i >= 0 else None


def write(docs):
    docs = Path(docs)
    text = svg()
    (docs / "led-card.md").write_text(markdown())
    (docs / "led-card.svg").write_text(text)
    written = [docs / "led-card.md", docs / "led-card.svg"]
    try:
        (docs / "led-card.png").write_bytes(png(text))
        written.append(docs / "led-card.png")
    except ImportError:
        print("(no PNG: pip install 'earshot[docs]' for cairosvg)", file=sys.stderr)
    return written


if __name__ == "__main__":
    for path in write(sys.argv[1] if len(sys.argv) > 1 else "docs"):
        print("wrote %s" % path)
