"""The LED legend the household sees (the page, the printable card) comes from the same data
the firmware's status LED does, and the committed card is the one that data generates."""

import hashlib
import json
import re

from host_tools import legend
from host_tools import vocabulary as v
from tests.mpy import FIRMWARE, ROOT, run_mpy


def firmware_legend():
    return json.loads(run_mpy(r"""
import json
from earshot import consent, buttons, confirm
print(json.dumps({
    "colours": {k: list(c) for k, c in consent.COLOURS.items()},
    "presets": [[n, f] for n, f in consent.PRESETS],
    "flags": list(consent.FLAG_NAMES),
    "blink_ms": consent.BLINK_MS,
    "long_ms": buttons.LONG_MS, "very_long_ms": buttons.VERY_LONG_MS,
    "confirm_ms": confirm.CONFIRM_MS,
}))
"""))


def test_host_legend_data_matches_the_firmwares_colours_presets_and_timings():
    fw = firmware_legend()
    assert {k: list(rgb) for k, (rgb, _, _) in v.STATUS_LED.items()} == fw["colours"]
    assert [[n, f] for n, f, _ in v.PRESETS] == fw["presets"]
    assert list(v.FLAG_NAMES) == fw["flags"]
    assert v.BLINK_MS == fw["blink_ms"]
    assert (legend.LONG_PRESS_S * 1000, legend.VERY_LONG_PRESS_S * 1000) == (
        fw["long_ms"], fw["very_long_ms"])
    assert legend.CONFIRM_S * 1000 == fw["confirm_ms"]
    # A private constant (const() with an underscore) is not visible at run time: read it.
    app = (FIRMWARE / "earshot" / "app.py").read_text()
    assert int(re.search(r"_TEST_MODE_BLINK_MS = const\((\d+)\)", app).group(1)) == \
        v.TEST_MODE_BLINK_MS
    assert int(re.search(r"_REPAIR_FLICKER_MS = const\((\d+)\)", app).group(1)) == \
        v.REPAIR_FLICKER_MS
    assert int(re.search(r"_REPAIR_DARK_MS = const\((\d+)\)", app).group(1)) == \
        v.REPAIR_DARK_MS
    assert [f for f, _ in legend.PLAIN_FLAGS] == fw["flags"]


def test_the_card_has_every_status_colour_and_red_only_for_the_mute_led():
    rows = legend.card()
    status = {r.rgb for r in rows if r.led == "status LED" and r.pattern == "steady"}
    assert status == {tuple(rgb) for rgb, _, _ in v.STATUS_LED.values()}
    assert [r.led for r in rows if r.rgb == legend.MUTE_RED] == ["mute LED"]
    assert any(r.pattern.startswith("blinking") and legend.CONFIRM_GESTURE in r.you_can
               for r in rows)
    assert all(r.means and r.you_can for r in rows)


def test_the_printed_card_in_docs_is_generated_from_the_legend_data():
    docs = ROOT / "docs"
    fix = "regenerate it: python -m host_tools.legend docs"
    assert (docs / "led-card.md").read_text() == legend.markdown(), fix
    assert (docs / "led-card.svg").read_text() == legend.svg(), fix
    png = (docs / "led-card.png").read_bytes()
    assert png.startswith(b"\x89PNG") and legend.png_svg_hash(png) == hashlib.sha256(
        legend.svg().encode()).hexdigest(), fix
    svg = legend.svg()
    for r in legend.card():
        assert "#%02x%02x%02x" % r.rgb in svg or r.pattern == "off"
