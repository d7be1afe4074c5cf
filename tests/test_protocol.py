"""Serial protocol v1: exact bytes and resynchronisation, on both sides of the line.

The board-level half (a board that survives bad input) is in the behaviour suite,
host_tools/hil/suite/test_serial_protocol.py, so `earshot hil` runs it on real boards too.
"""

import zlib

from host_tools.link.protocol import (MAGIC, T_EVENT, T_SESSION_CHUNK, FrameParser,
                                      encode_command, encode_frame)
from tests.mpy import run_mpy


def test_command_line_is_ascii_without_control_characters():
    line = encode_command(7, {"cmd": "status", "x": "\u00e9\x03"})
    body = b'{"cmd":"status","x":"\\u00e9\\u0003"}'
    assert line == b"@E1 7 %08x %s\n" % (zlib.crc32(body), body)
    assert all(32 <= c < 127 for c in line[:-1])  # Ctrl-C can never appear: REPL-safe


def test_frame_bytes_are_exact():
    frame = encode_frame(T_EVENT, 0x0102, b"{}")
    assert frame[:8] == MAGIC + bytes([1, T_EVENT, 0x02, 0x01, 2, 0])
    assert frame[8:10] == b"{}"
    assert frame[10:] == zlib.crc32(frame[2:10]).to_bytes(4, "little")


def test_parser_resynchronises_after_garbage_half_frames_and_bad_checksums():
    good1 = encode_frame(T_EVENT, 1, b'{"ev":"a"}')
    good2 = encode_frame(T_SESSION_CHUNK, 2, bytes(range(256)) * 4)
    corrupt = bytearray(encode_frame(T_EVENT, 3, b'{"ev":"c"}'))
    corrupt[9] ^= 0xFF
    half = encode_frame(T_EVENT, 4, b'{"ev":"d"}' * 50)[:40]
    stream = b"boot noise \xe5" + good1 + bytes(corrupt) + half + b"\xe5\x5e\xff\xff" + good2
    p = FrameParser()
    frames = []
    for i in range(0, len(stream), 7):  # arrives in small pieces
        frames += p.feed(stream[i : i + 7])
    frames += p.feed(b"")
    while p.pending:  # the half frame swallowed good2: the timeout path gives it up
        frames += p.flush_partial()
    assert [(f.type, f.seq) for f in frames] == [(T_EVENT, 1), (T_SESSION_CHUNK, 2)]
    assert frames[1].payload == bytes(range(256)) * 4
    assert p.bad_frames >= 1 and b"boot noise" in p.noise


def test_firmware_reader_reports_every_kind_of_bad_line_in_micropython():
    out = run_mpy(r"""
from earshot.proto import CommandReader
import binascii
r = CommandReader()
good = b'{"cmd":"status"}'
lines = [
    b"hello world\n",
    b"@E1 5 00000000 " + good + b"\n",
    b"@E2 6 %08x " % binascii.crc32(good) + good + b"\n",
    b"@E1 7 %08x {nope}\n" % binascii.crc32(b"{nope}"),
    b"@E1 8 zz\n",
    b"@E1 9 %08x " % binascii.crc32(good) + b"@E1 10 %08x " % binascii.crc32(good) + good + b"\n",
    b"x" * 2000 + b"\n",
    b"\x03" * 1000 + b"@E1 11 %08x " % binascii.crc32(good) + good + b"\n",
    b"\x03" * 3000 + b"@E1 12 %08x " % binascii.crc32(good) + good + b"\n",
]
for line in lines:
    for item in r.feed(line):
        print(item)
""")
    got = out.strip().splitlines()
    assert got[0].startswith("(0, None, 'garbage")
    assert "checksum mismatch" in got[1]
    assert "unsupported protocol version 2" in got[2]
    assert "not JSON" in got[3]
    assert "malformed" in got[4]
    assert got[5] == "(10, {'cmd': 'status'})"  # resynchronised on the last frame start
    assert "too long" in got[6]
    # Junk without a newline (Ctrl-C bytes to a locked board) never swallows the next command.
    assert got[7] == "(11, {'cmd': 'status'})"
    assert "too long" in got[8] and got[9] == "(12, {'cmd': 'status'})"


def test_frames_that_arrive_with_a_reply_are_kept_in_order():
    from host_tools.link.client import Client

    class FakeSerial:
        in_waiting = 0

        def __init__(self, data):
            self.data = data

        def write(self, b):
            pass

        def read(self, n):
            data, self.data = self.data, b""
            return data

    board = Client("fake")
    board._seq = 0  # its next command is number 1
    stream = (encode_frame(T_SESSION_CHUNK, 1, b"a") + encode_frame(T_EVENT, 2, b'{"ev":"reply","re":1}')
              + encode_frame(T_SESSION_CHUNK, 3, b"b"))
    board._serial = FakeSerial(stream)
    assert board.command("status")["re"] == 1
    assert [f.payload for f in board.backlog] == [b"a", b"b"]


def test_a_frame_cut_short_does_not_swallow_the_whole_frames_after_it():
    # A board whose host stopped reading mid-frame writes nothing more until the host talks;
    # what the host then gets is the head of a long frame, then whole frames.
    from host_tools.link.protocol import FrameParser, encode_frame

    cut = encode_frame(0x11, 7, bytes(3000))[:300]
    whole = encode_frame(1, 8, b'{"ev": "note", "text": "back"}')
    p = FrameParser()
    frames = p.feed(cut + whole)
    assert [(f.type, f.seq) for f in frames] == [(1, 8)] and p.bad_frames == 1


def test_a_reply_left_for_an_earlier_host_is_not_taken_for_this_ones():
    # A board's USB FIFO (and the virtual board's) keeps what it wrote for whoever opens the port
    # next. Every process used to number its commands from 1, so an earlier host's reply to its
    # first command was taken for the new host's first reply.
    from host_tools.link.client import Client

    def answer(seq):
        return (encode_frame(T_EVENT, 1, b'{"ev":"reply","re":1,"from":"earlier"}')
                + encode_frame(T_EVENT, 2, b'{"ev":"reply","re":%d}' % seq))

    for _ in range(3):
        board = Client("fake")
        board._serial = AnsweringSerial(answer)
        assert "from" not in board.command("hello")


def test_log_lines_left_from_an_earlier_transfer_are_not_counted_in_the_next():
    # The owner of a shared port keeps what it reads while it waits for its turn, the lines of a
    # command's transfer among it; its own transfer must not count them.
    import json

    from host_tools.link.client import Client
    from host_tools.link.protocol import Frame

    def answer(seq):
        return (encode_frame(T_EVENT, 5, b'{"ev":"log","lines":["mine\\n"]}')
                + encode_frame(T_EVENT, 6, b'{"ev":"reply","re":%d,"lines":1,"head":[0,"00"]}'
                               % seq))

    board = Client("fake")
    board._serial = AnsweringSerial(answer)
    board.backlog = [Frame(T_EVENT, 1, json.dumps({"ev": "log", "lines": ["theirs\n"]}).encode()),
                     Frame(T_EVENT, 2, b'{"ev":"state","m":"mute","new":"muted"}')]
    data, reply = board.read_log()
    assert data == b"mine\n" and reply["lines"] == 1
    assert [f.event().get("ev") for f in board.backlog] == ["state"]  # the rest is kept


class AnsweringSerial:
    """A serial port whose board answers each command line with answer(its number)."""
    in_waiting = 0

    def __init__(self, answer):
        self.answer, self.data = answer, b""

    def write(self, b):
        self.data = self.answer(int(b.split(b" ")[1]))

    def read(self, n):
        data, self.data = self.data, b""
        return data


def test_a_command_that_fails_on_the_board_gets_an_error_reply_and_the_board_carries_on():
    # commands.handle: a bad command (ValueError, TypeError, KeyError) and anything else a
    # handler raises (a full flash, MemoryError, a bug) each get one error reply; nothing
    # raises out of the protocol loop.
    out = run_mpy(r"""
from earshot import commands
class App:
    def __init__(self): self.out = []
    def reply_error(self, seq, text): self.out.append(("error", seq, text))
    def reply(self, seq, **kw): self.out.append(("reply", seq, sorted(kw)))
def boom(app, seq, cmd, now): raise OSError(28)
def bad(app, seq, cmd, now): raise ValueError("no such thing")
commands.COMMANDS["boom"] = boom
commands.COMMANDS["bad"] = bad
app = App()
for seq, cmd in ((1, {"cmd": "boom"}), (2, {"cmd": "bad"}), (3, {"cmd": "nope"})):
    commands.handle(app, (seq, cmd), 0)
commands.handle(app, (4, None, "line too long"), 0)
for r in app.out: print(r)
""")
    assert out.splitlines() == [
        "('error', 1, 'boom failed on the board: OSError')",
        "('error', 2, 'bad bad command: no such thing')",
        "('error', 3, \"unknown command 'nope'\")",
        "('error', 4, 'line too long')",
    ]
