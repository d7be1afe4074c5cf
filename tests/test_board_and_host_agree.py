"""Tables the firmware and the host tools must agree on, checked against the firmware itself.

The firmware cannot import host code (and the host's verifier is independent on purpose), so
each shared table has two copies and this parity test: protocol frame types, session close
reasons, consent flag names, and the virtual board's socket wire (host_tools/sim/wire.py).
"""

import json
import re

from host_tools.link import protocol
from host_tools.records import sessions
from host_tools.sim import wire
from tests.mpy import FIRMWARE, ROOT, run_mpy


def board_tables():
    return json.loads(run_mpy(r"""
import json
from earshot import proto, session, consent, hw
print(json.dumps({
    "version": proto.VERSION,
    "types": [proto.T_EVENT, proto.T_SESSION_HEADER, proto.T_SESSION_CHUNK, proto.T_SESSION_CLOSE],
    "max_payload": proto.MAX_PAYLOAD,
    "reasons": session.REASONS,
    "flags": list(consent.FLAG_NAMES),
    "buttons": [hw.BUTTON_MUTE, hw.BUTTON_ACTION],
}))
"""))


def test_protocol_types_close_reasons_and_flag_names_match_the_firmware():
    board = board_tables()
    assert board["version"] == protocol.VERSION
    assert board["types"] == [protocol.T_EVENT, protocol.T_SESSION_HEADER,
                              protocol.T_SESSION_CHUNK, protocol.T_SESSION_CLOSE]
    assert board["max_payload"] == protocol.MAX_PAYLOAD
    assert {name: code for code, name in sessions.REASONS.items()} == board["reasons"]
    assert list(sessions.FLAG_NAMES) == board["flags"]
    assert board["buttons"] == [wire.BUTTON_MUTE, wire.BUTTON_ACTION]


def test_the_virtual_hardware_layer_speaks_the_simulators_wire():
    src = (FIRMWARE / "earshot" / "hw" / "virtual.py").read_text()
    consts = {m[0]: int(m[1], 0)
              for m in re.findall(r"^(_\w+) = const\((0x[0-9A-Fa-f]+|\d+)\)", src, re.M)}
    assert consts["_FRAME"] == wire.FRAME_SAMPLES
    assert (consts["_PIN_MUTE_LED"], consts["_PIN_MIC_POWER"], consts["_PIN_STATUS_LED"],
            consts["_PIN_SPEAKER_AMP"]) == (wire.PIN_MUTE_LED, wire.PIN_MIC_POWER,
                                            wire.PIN_STATUS_LED, wire.PIN_SPEAKER_AMP)
    # Every opcode the firmware writes is one the world understands, and the reverse.
    sent = set(re.findall(r'write\(b"(\w)"\)', src)) | set(re.findall(r'ord\("(\w)"\)', src))
    ops = {wire.OP_FRAME, wire.OP_PIN, wire.OP_WDT_START, wire.OP_WDT_FEED, wire.OP_WDT_STOP,
           wire.OP_SERIAL, wire.OP_CONSOLE, wire.OP_SPEAKER}
    assert {s.encode() for s in sent} == ops
    assert consts["_HEADER"] == wire.FRAME_HEADER
    assert consts["_PERIOD"] == wire.TICKS_PERIOD == 1 << 30
    for env in (wire.ENV_SOCK, wire.ENV_RESET_CAUSE, wire.ENV_CHIP_RESET):
        assert '"%s"' % env in src


def test_consent_presets_and_the_status_led_legend_match_the_firmware_and_the_doc():
    from host_tools import vocabulary as V

    board = json.loads(run_mpy(r"""
import json
from earshot import consent
print(json.dumps({"flags": list(consent.FLAG_NAMES), "presets": list(consent.PRESETS),
                  "colours": consent.COLOURS, "blink": consent.BLINK_MS}))
"""))
    assert list(V.FLAG_NAMES) == board["flags"]
    assert [[name, bits] for name, bits, _ in V.PRESETS] == board["presets"]
    assert {k: list(v[0]) for k, v in V.STATUS_LED.items()} == board["colours"]
    assert V.BLINK_MS == board["blink"]
    # The legend a person reads in docs/sessions.md: same names, same colours.
    doc = (ROOT / "docs" / "sessions.md").read_text()
    rows = dict(re.findall(r"^\| `?(\w+)`?\s*\|[^|]*\|\s*(\w+ \(\d+, \d+, \d+\))", doc, re.M))
    assert rows == {k: "%s (%d, %d, %d)" % (v[1], *v[0]) for k, v in V.STATUS_LED.items()}
