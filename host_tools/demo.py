"""`make demo`: a virtual board, the firmware deployed through its serial port, a household scene.

Prints what a person would want to see: the mute LED, wake events, what left the device and
under which consent, and the transparency log, verified.
"""

import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from .errors import EarshotError, ProtocolError
from .link.client import Client
from .link.protocol import T_EVENT, T_SESSION_CHUNK, T_SESSION_CLOSE, T_SESSION_HEADER
from .records import sessions
from .resources import audio
from .sim import VirtualBoard
from .vocabulary import board_clock, consent_text

SESSION_TYPES = (T_SESSION_HEADER, T_SESSION_CHUNK, T_SESSION_CLOSE)


def chatter(seconds, seed, steady=False):
    """Household sound: bursty speech-like noise (no wake word in it); `steady` never pauses."""
    rng = np.random.default_rng(seed)
    n = int(seconds * 16000)
    t = np.arange(n) / 16000
    if steady:
        env = 0.6 + 0.4 * np.sin(2 * np.pi * 4.0 * t)
    else:
        env = 0.5 + 0.5 * np.sin(2 * np.pi * 3.7 * t) * np.sin(2 * np.pi * 0.3 * t)
    return np.clip(rng.standard_normal(n) * env * 3000, -32768, 32767).astype("<i2").tobytes()


class Scene:
    def __init__(self, board, client, key):
        self.board = board
        self.client = client
        self.key = key
        self.records = []
        self.sent_audio = 0
        self.t0 = time.monotonic()

    def say(self, what):
        pins = self.board.pins()
        led = "MUTE LED ON " if pins["mute_led"] else "mute led off"
        mic = "mic powered" if pins["mic_power"] else "mic OFF    "
        # The board's own clock (ms since the firmware booted), as the transparency log shows it.
        uptime = self.client.command("status")["uptime_ms"]
        print("  [board %s] %s | %s | %s" % (board_clock(uptime), led, mic, what), flush=True)

    def pump(self, seconds=0.3):
        """Read what the board sent; show events, keep session records."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            for f in self.client.frames(0.05):
                self._show(f)

    def _show(self, f):
        if f.type in SESSION_TYPES:
            self.records.append(f.payload)
            if f.type == T_SESSION_HEADER:
                info = sessions.parse_record(f.payload)
                print("      -> session opened: wake %s, consent %s" % (
                    info.wake_word, consent_text(info.flags)))
            return
        if f.type != T_EVENT:
            return
        ev = f.event()
        kind = ev.get("ev")
        if kind == "wake":
            print("      wake word '%s' (score %s)" % (ev["word"], ev["score"]))
        elif kind == "session":
            self.sent_audio += ev["bytes"]
            print("      -> session closed (%s): %.1f s of audio, %d bytes, signed"
                  % (ev["end"], ev["ms"] / 1000, ev["bytes"]))
        elif kind == "refused":
            print("      board refused to stream: %s" % ev["why"])
        elif kind == "consent":
            print("      consent now %s" % consent_text(ev["flags"], ev.get("guest"), ev["preset"]))
        elif kind == "state" and ev["m"] == "mute":
            print("      %s (by %s)" % (ev["new"], ev["why"]))

    def play(self, pcm):
        self.board.play(pcm)
        while self.board.world.queued_seconds() > 0:
            self.pump(0.1)
        self.pump(0.3)


def run_scene(board, log=print):
    key = os.urandom(32)
    client = Client(board.port, timeout=3.0)
    client.command("provision", device_id="earshot-demo", key=key.hex())
    s = Scene(board, client, key)
    s.say("powered on: the board starts muted (fail closed)")
    board.press("mute")
    s.pump()
    s.say("someone pressed the mute button: listening for the wake word, on the board only")
    tap = board.tap()
    s.play(chatter(8, 1))
    s.say("8 s of household conversation: %d bytes left the board (no audio, no levels)" % len(tap))
    board.press("action")
    s.play(chatter(2, 2))
    s.say("push-to-talk under consent %s: nothing may leave the home" % consent_text(0))
    reply = client.command("consent", preset="assistant")
    s.say("the phone app asks for consent %s: %s" % (consent_text(["cloud"]),
                                                      reply["result"].replace("_", " ")))
    board.advance(1.2)  # they see the light blink: the gesture confirms only what it showed
    board.press("mute+action", seconds=0.7)
    s.pump()
    s.say("a household member confirmed it: both buttons held together on the board")
    from .sim.world import read_pcm

    s.play(read_pcm(audio("alexa_en-us.wav")) + chatter(2.5, 3, steady=True) + bytes(16000 * 2))
    s.say("'Alexa, ...': the on-board wake word opened a signed session")
    board.press("action")
    board.play(chatter(6, 4, steady=True))
    board.advance(1.5)
    board.press("mute")
    s.pump(0.5)
    s.play(chatter(2, 5))
    s.say("mute pressed mid-sentence: the session ended, the mic is off")
    result = sessions.verify_stream(s.records, key)
    print()
    print("What left the device: %d session(s), %d bytes of audio, all verified: %s"
          % (len(result.sessions), s.sent_audio, "yes" if result.ok else result.failure))
    for info in result.sessions:
        print("  session counter %d: %.1f s, consent %s, wake %s" % (
            info.counter, info.duration_ms / 1000, consent_text(info.flags), info.wake_word))
    from .records.translog import render, verify_log

    data, _ = client.read_log()
    print("Transparency log, read from the board and verified here:")
    print("  " + render(verify_log(data)).replace("\n", "\n  "))
    client.close()
    return result.ok


def main():
    start = time.monotonic()
    print("Earshot demo: a virtual ESP32-S3 board with the firmware deployed over its serial port\n")
    try:
        with VirtualBoard(flash_dir=Path(tempfile.mkdtemp()) / "flash") as board:
            print("virtual board on %s" % board.port)
            board.deploy(progress=lambda m: print("  deploy: " + m, flush=True))
            print()
            ok = run_scene(board)
    except (EarshotError, ProtocolError) as e:
        print("earshot: %s" % e, file=sys.stderr)
        return 1
    print("\ndemo finished in %.1f s" % (time.monotonic() - start))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
