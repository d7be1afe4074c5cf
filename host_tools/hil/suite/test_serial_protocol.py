"""Serial protocol v1 on a board: bad input gets errors back, and mpremote still gets in."""

import zlib

from host_tools.hil.fixtures import event_dicts, events
from host_tools.link.protocol import encode_command


def test_bad_input_gets_errors_back_and_the_firmware_keeps_running(board, client):
    ser = client.ensure_connected()
    ser.write(b"\x00\xff random bytes \xe5\x5e\n")
    ser.write(b"@E1 1 00000000 {\"cmd\":\"status\"}\n")
    ser.write(encode_command(2, {"cmd": "selfdestruct"}))
    ser.write(b"@E1 3 %08x {\"no\":1}\n" % zlib.crc32(b'{"no":1}'))
    ser.write(b"@E1 4 12345678 {\"cmd\":\"sta")  # half-sent, then a good frame
    ser.write(b"\n" + encode_command(5, {"cmd": "status"}))
    evs = event_dicts(events(client, 1.5))
    errors = [e["error"] for e in evs if e["ev"] == "error"]
    assert any("garbage" in e for e in errors)
    assert any("checksum" in e for e in errors)
    assert any("unknown command 'selfdestruct'" in e for e in errors)
    assert any("no 'cmd'" in e for e in errors)
    assert any(e["ev"] == "reply" and e["re"] == 5 for e in evs)
    assert client.command("status")["version"]  # still running


def test_mpremote_can_still_interrupt_the_firmware_and_deploy(board, client):
    client.close()
    reply = board.deploy()  # Ctrl-C, raw REPL, copy, reset, then protocol hello
    assert reply["protocol"] == 1 and reply["board"] == board.board_id
