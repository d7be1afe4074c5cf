"""A Wyoming reader that refuses oversized frames at their header line.

A Wyoming frame is a JSON header line, then `data_length` bytes of JSON data, then
`payload_length` bytes of payload (wyoming/event.py, async_read_event). The library reads both
with `reader.readexactly(n)` for whatever n the header states, so a peer that announces a
gigabyte is waited for and every byte it sends is buffered. The bridge does not fork the
library: its connections read through BoundedReader, which looks at each header line as the
library reads it and raises FrameTooLarge (no ValueError: the library would take that for the
end of the stream) before a byte of the body is awaited. The caller drops the connection with
one line.
"""

import json

# What Home Assistant sends a satellite is small: describe, run-satellite, pause, ping, a
# transcript (JSON data of a few hundred bytes), and audio chunks back for playback (a few KB
# each). The limits leave room for anything a real peer sends.
MAX_DATA = 64 * 1024
MAX_PAYLOAD = 1024 * 1024
_LIMITS = (("data_length", MAX_DATA), ("payload_length", MAX_PAYLOAD))


class FrameTooLarge(Exception):
    """A header line that announces more than the bridge takes (or a length that is no size)."""


class BoundedReader:
    """Wraps an asyncio.StreamReader for wyoming's async_read_event; everything else passes."""

    def __init__(self, reader):
        self._reader = reader

    async def readline(self):
        line = await self._reader.readline()
        check_header(line)
        return line

    def __getattr__(self, name):
        return getattr(self._reader, name)


def check_header(line):
    """FrameTooLarge if a header line states a body over the limits. A line that is no JSON
    object is left to the library (it ends the stream, or the caller's checks catch it)."""
    try:
        head = json.loads(line)
    except ValueError:
        return
    if not isinstance(head, dict):
        return
    for field, limit in _LIMITS:
        n = head.get(field)
        if n is None:
            continue
        if not isinstance(n, int) or isinstance(n, bool) or n < 0:
            raise FrameTooLarge("%s %s is not a size in bytes" % (field, json.dumps(n)[:40]))
        if n > limit:
            raise FrameTooLarge("%s %d is over the %d bytes the bridge takes" % (field, n, limit))
