"""What the household's page and `earshot log`/`status` say must be what the board really is:
a board that stopped answering is shown as unknown, never as its last state; the access mode,
test mode and the status light as the board lights it; a key replacement waiting for the
button; a log entry the firmware would never write is shown as malformed, never a traceback.

Each test runs `earshot` as a user does (a subprocess) against a virtual board."""

import hashlib
import json
import re
import subprocess
import sys

from tests.household import Earshot, provisioned_board, wait_event


def earshot(*args, timeout=60):
    return subprocess.run([sys.executable, "-m", "host_tools.cli", *args], capture_output=True,
                          text=True, timeout=timeout)


def _append_chained(log, bodies):
    """Append entries that chain on the log's last line (anyone can: the chain has no key)."""
    lines = log.read_bytes().split(b"\n")[:-1]
    prev = bytes.fromhex(lines[-1][:64].decode())
    seq = json.loads(lines[-1][65:])["seq"]
    out = []
    for body in bodies:
        seq += 1
        raw = json.dumps(dict(body, seq=seq)).encode()
        prev = hashlib.sha256(prev + raw).digest()
        out.append(prev.hex().encode() + b" " + raw)
    log.write_bytes(b"\n".join(lines + out) + b"\n")
    return seq


def test_a_malformed_log_entry_is_one_line_in_earshot_log_and_malformed_on_the_page(
        firmware_image, tmp_path):
    board = provisioned_board(firmware_image, tmp_path / "b")
    try:
        board.power_cut()
        log = board.flash_dir / "data" / "log.txt"
        last = _append_chained(log, [
            {"t": 5, "k": "session", "f": {"ms": "long", "bytes": 3}},  # a number that is text
            {"t": 6, "k": "mute", "f": [1, 2]},  # fields that are no object
        ])
        board.power_on()
        board.wait_booted()
        r = earshot("log", "--port", board.port)
        assert r.returncode == 1 and "Traceback" not in r.stderr, r.stderr
        assert r.stderr.startswith("earshot: ") and len(r.stderr.strip().splitlines()) == 1
        assert "entry #%d is malformed: its fields are not an object" % last in r.stderr
        assert re.search(r"#%d .*MALFORMED session entry" % (last - 1), r.stdout), r.stdout

        proc = Earshot("dashboard", "--port", board.port, "--bind", "127.0.0.1:0",
                       env={"EARSHOT_STATE_DIR": str(tmp_path / "state")})
        try:
            url = proc.wait_line(r"dashboard: (http://\S+)").group(1)
            shown = wait_event(url, lambda k, d: k == "log" and d["log"]["state"] == "broken",
                               "the log shown as broken")
            assert "its fields are not an object" in shown["log"]["error"]
            bad = [i for i in shown["timeline"] if i["seq"] == last - 1]
            assert bad and bad[0]["kind"] == "malformed" and "'session'" in bad[0]["text"]
        finally:
            assert proc.stop() == 0, proc.output
        assert "Traceback" not in proc.output, proc.output
    finally:
        board.close()


def test_each_log_entry_kind_has_one_description():
    # records.translog.describe once had a second `provision` and `test_mode` branch that could
    # never run (the first one of each returned): one kind, one description.
    import ast
    import inspect

    from host_tools.records import translog

    tree = ast.parse(inspect.getsource(translog))
    kinds = [node.comparators[0].value for node in ast.walk(tree)
             if isinstance(node, ast.Compare) and "kind" in (getattr(node.left, "id", None),
                                                             getattr(node.left, "attr", None))
             and isinstance(node.ops[0], ast.Eq)
             and isinstance(node.comparators[0], ast.Constant)]
    assert kinds and len(kinds) == len(set(kinds)), sorted(kinds)


def _light(state):
    return (state["light"] or {}).get("colour"), (state["light"] or {}).get("pattern")


def test_a_key_replacement_waiting_is_named_by_status_pins_and_the_page(firmware_image,
                                                                        tmp_path):
    # Before, the board's status reported only consent requests, so `earshot status` and the
    # page named the preset's colour while the LED blinked white for a new key, and `earshot
    # pins` called that white "custom: flags set by a host".
    from host_tools.hil.fixtures import DEVICE_ID, confirm, connect, wait_for
    from host_tools.link.protocol import T_EVENT
    from tests.household import Registered

    board = provisioned_board(firmware_image, tmp_path / "b")
    sim = Registered(board, "truth-key")

    def ask_for_a_new_key():
        c = connect(board.port)
        c.send("provision", device_id=DEVICE_ID, key="ab" * 32)  # a key is there: it waits
        wait_for(lambda: any(f.event().get("state") == "waiting" for f in c.frames(0.1)
                             if f.type == T_EVENT), timeout=10)
        c.close()

    try:
        ask_for_a_new_key()
        r = earshot("status", "--port", board.port)
        led = next(line for line in r.stdout.splitlines() if line.startswith("LED"))
        assert "white, blinking: waiting for someone to hold both buttons together on the " \
               "board to allow a new signing key (device %s)" % DEVICE_ID in led, r.stdout
        assert "waiting   a new signing key for device %s" % DEVICE_ID in r.stdout
        st = json.loads(earshot("status", "--port", board.port, "--json").stdout)
        assert st["confirm"]["what"] == "provision" and st["confirm"]["target"] == DEVICE_ID
        r = earshot("pins", "--port", "sim:truth-key")
        assert "status_led  white, blinking (255, 255, 255) a new signing key waits for " \
               "someone to hold both buttons together" in r.stdout, r.stdout + r.stderr
        confirm(board)  # the household sees the light, and allows it

        ask_for_a_new_key()  # and another: the page, started now, shows what the LED does
        proc = Earshot("dashboard", "--port", board.port, "--bind", "127.0.0.1:0",
                       env={"EARSHOT_STATE_DIR": str(tmp_path / "state")})
        try:
            url = proc.wait_line(r"dashboard: (http://\S+)").group(1)
            state = wait_event(url, lambda k, d: k == "state" and d["light"], "the board's state")
            assert state["pending"]["what"] == "provision", state["pending"]
            assert state["pending"]["target"] == DEVICE_ID
            assert _light(state) == ("white", "blinking"), state["light"]
            assert "new signing key" in state["light"]["means"]
        finally:
            assert proc.stop() == 0, proc.output
    finally:
        sim.close()
        board.close()


def test_an_unlocked_board_is_named_unlocked_by_pins_and_the_page(tmp_path):
    # Before, the page never showed the access mode and named the preset's colour while the
    # board blinked white; `earshot pins` called the unlock blink "custom: flags set by a host".
    from host_tools.hil.fixtures import boot_board, connect
    from host_tools.security.attacks import locked_image
    from tests.household import Registered

    board = boot_board(locked_image(tmp_path / "image"), tmp_path / "b")
    board.hold("mute+action")  # the household holds both buttons while plugging it in
    sim = None
    try:
        board.start()
        board.wait_booted()
        connect(board.port).close()
        board.release("mute+action")
        sim = Registered(board, "truth-unlocked")
        r = earshot("pins", "--port", "sim:truth-unlocked")
        assert "status_led  white, slow blinking (255, 255, 255) unlocked at the board for an " \
               "update" in r.stdout, r.stdout + r.stderr
        light = json.loads(earshot("pins", "--port", "sim:truth-unlocked", "--json").stdout)
        assert light["status_light"]["pattern"] == "slow blinking"

        proc = Earshot("dashboard", "--port", board.port, "--bind", "127.0.0.1:0",
                       env={"EARSHOT_STATE_DIR": str(tmp_path / "state")})
        try:
            url = proc.wait_line(r"dashboard: (http://\S+)").group(1)
            state = wait_event(url, lambda k, d: k == "state" and d["light"], "the board's state")
            assert state["access"] == "unlocked" and "UNLOCKED" in state["access_text"]
            assert _light(state) == ("white", "slow blinking"), state["light"]
            assert state["test_mode"] is False and state["consent"]["preset"] == "private"
        finally:
            assert proc.stop() == 0, proc.output
    finally:
        if sim is not None:
            sim.close()
        board.close()


def test_a_board_that_goes_silent_shows_as_unknown_and_comes_back_when_it_answers(
        firmware_image, tmp_path):
    # Before, a board whose power was cut behind an open port stayed "link up, Microphone ON"
    # on the page for as long as anyone looked.
    from tests.household import unmute

    board = provisioned_board(firmware_image, tmp_path / "b")
    proc = Earshot("dashboard", "--port", board.port, "--bind", "127.0.0.1:0",
                   env={"EARSHOT_STATE_DIR": str(tmp_path / "state")})
    try:
        url = proc.wait_line(r"dashboard: (http://\S+)").group(1)
        unmute(board)
        wait_event(url, lambda k, d: k == "state" and d["muted"] is False, "Microphone ON")
        board.power_cut()  # the port stays open; nothing answers behind it
        gone = wait_event(url, lambda k, d: k == "state" and d["link"]["state"] != "up",
                          "the board shown as not answering", timeout=40)
        assert gone["link"]["state"] == "silent" and "no answer" in gone["link"]["error"]
        assert gone["muted"] is None and gone["consent"] is None and gone["light"] is None
        assert gone["access"] is None and gone["pending"] is None
        board.power_on()  # a clean power-on: it restores its stored state (unmuted)
        # The light is read with the state, but a page may get the mute before it (one event
        # per change): wait for both rather than for the first sign of life.
        back = wait_event(url, lambda k, d: k == "state" and d["link"]["state"] == "up"
                          and d["muted"] is not None and d["light"] is not None,
                          "the board answering again", timeout=40)
        assert back["muted"] is False and back["light"]["colour"] == "green"
    finally:
        assert proc.stop() == 0, proc.output
        board.close()
    assert "Traceback" not in proc.output
