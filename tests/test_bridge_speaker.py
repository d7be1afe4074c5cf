"""What the bridge tells Home Assistant about the board's speaker, from the board's status
(firmware status `speaker`: null, or ok/fault): with none that works, Home Assistant is told
there is no speaker (`info` without a `snd` program, `run-pipeline` ending at `handle`), so it
never sends a reply nobody would hear. No board needed: a board's status is data."""

import asyncio
import json
from pathlib import Path

import pytest
from wyoming.info import Info

from host_tools.bridge import pipelines
from host_tools.bridge.satellite import Bridge

BOARDS = Path(__file__).resolve().parents[1] / "boards"


class View:
    def __init__(self, speaker):
        self.board = {"device_id": "kitchen", "wake_word": "alexa", "version": "1",
                      "speaker": speaker}


class FakeBoard:
    port = "sim:test"

    def __init__(self, speaker):
        self.view = View(speaker)

    def publish(self, kind, data):
        pass


class FakePeer:
    def __init__(self, pipeline):
        self.pipeline = pipeline
        self.sent = []

    async def send(self, event):
        self.sent.append(event)
        return True


SESSION = {"session_id": "ab12", "counter": 3, "device_id": "kitchen", "consent": ["cloud"],
           "wake_word": "alexa", "start_ms": 100}


def told(speaker):
    p = pipelines.single("tcp://127.0.0.1:10700", None)
    bridge = Bridge(FakeBoard(speaker), p, say=lambda text: None, area="Kitchen")
    info = Info.from_event(bridge.info(p[0]))
    peer = FakePeer(p[0])
    asyncio.run(bridge._announce(peer, SESSION))
    run = [e for e in peer.sent if e.type == "run-pipeline"][0]
    return info, run.data


@pytest.mark.parametrize("speaker", [
    None,  # the XIAO: no speaker in its board file
    {"ok": False, "rate": 16000, "fault": "the BOX-3 speaker (ES8311) shares ..."},
])
def test_a_board_without_a_working_speaker_is_announced_as_having_none(speaker):
    info, run = told(speaker)
    assert info.snd == []
    assert run["end_stage"] == "handle" and "snd_format" not in run
    assert info.satellite.area == "Kitchen"


def test_a_board_with_a_speaker_asks_for_the_spoken_reply_in_its_format():
    info, run = told({"ok": True, "rate": 16000, "fault": None})
    assert [p.snd_format.rate for p in info.snd] == [16000]
    assert run["end_stage"] == "tts"
    assert run["snd_format"] == {"rate": 16000, "width": 2, "channels": 1}


def test_the_board_files_say_which_boards_can_speak():
    spk = {p.stem: json.loads(p.read_text()).get("speaker") for p in BOARDS.glob("*.json")}
    assert spk["xiao-esp32s3-sense"] is None and spk["virtual-xiao-sense"] is None
    assert spk["esp32-s3-box-3"]["kind"] == "es8311"
    # esp-bsp esp-box-3.h: BSP_I2S_DOUT GPIO15 to the ES8311, BSP_POWER_AMP_IO GPIO46.
    assert (spk["esp32-s3-box-3"]["sd"], spk["esp32-s3-box-3"]["amp"]["pin"]) == (15, 46)
    devkit = spk["esp32-s3-devkitc-1-inmp441"]
    assert devkit["part"] == "MAX98357A" and devkit["fitted"] is False  # optional: wire it
    assert spk["virtual"]["kind"] == "virtual"
