"""The dashboard's event stream (/events) as a stalled page meets it: what a page has not read
yet is at most "this board's state changed", never the board's facts themselves (audio
included), so a page that stops reading costs the dashboard nothing that grows."""

import asyncio
import gc
import tracemalloc

from host_tools.dashboard.app import _stream
from host_tools.hub.board import Board


class StalledPage:
    """A request whose client is still connected but reads nothing more."""

    async def is_disconnected(self):
        return False


def test_a_page_that_stops_reading_keeps_no_audio_and_nothing_that_grows_in_the_dashboard():
    async def scene():
        board = Board("1", "/dev/null")
        page = _stream(StalledPage(), [board], True)
        await page.__anext__()  # the page got the board's state...
        await page.__anext__()  # ...and its log, then stops reading
        board.publish("session", ("open", {"session_id": "ab", "flags": 1, "consent": ["cloud"],
                                           "wake_word": "alexa", "verified": True}))
        gc.collect()
        tracemalloc.start()
        before = tracemalloc.get_traced_memory()[0]
        for _ in range(2000):  # 200 s of a session's audio, 6.4 MB
            board.publish("session", ("audio", bytes(3200)))
        gc.collect()
        grown = tracemalloc.get_traced_memory()[0] - before
        tracemalloc.stop()
        await page.aclose()
        return grown

    grown = asyncio.run(scene())
    assert grown < 200_000, "the dashboard kept %d bytes for a page that reads nothing" % grown
