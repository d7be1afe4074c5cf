"""`earshot dashboard` and `earshot bridge` as a user types them: mistakes are one-line errors
that say how to fix them, before any port is touched."""

import os
import socket
import subprocess
import sys


def earshot(*args, timeout=60):
    return subprocess.run([sys.executable, "-m", "host_tools.cli", *args], capture_output=True,
                          text=True, timeout=timeout,
                          env=dict(os.environ, EARSHOT_PORT="", EARSHOT_KEY_FILE=""))


def one_line_error(r, needle, code=1):
    assert r.returncode == code, (r.stdout, r.stderr)
    assert r.stderr.startswith("earshot: ") and needle in r.stderr, r.stderr
    assert "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1


def test_dashboard_and_bridge_mistakes_are_one_line_errors(tmp_path):
    key = tmp_path / "k"
    key.write_text("00" * 32)
    bad = tmp_path / "pipelines.toml"
    bad.write_text('[pipelines.kitchen]\nlisten = "tcp://127.0.0.1:10700"\ncloud = true\n')
    not_a_table = tmp_path / "flat.toml"
    not_a_table.write_text('pipelines = "kitchen"\n')
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        taken = "127.0.0.1:%d" % busy.getsockname()[1]
        for args, needle, *code in [
            (("dashboard",), "no port given"),
            (("dashboard", "--port", "/dev/nope", "--bind", "0.0.0.0:8765"), "add --lan"),
            (("dashboard", "--port", "/dev/nope", "--bind", "localhost"), "give HOST:PORT", 2),
            (("dashboard", "--port", "/dev/nope", "--bind", taken), "cannot listen on"),
            (("dashboard", "--port", "/dev/nope", "--bind", "127.0.0.1:0"), "no such port"),
            (("dashboard", "--port", "a", "--port", "b", "--wyoming", "tcp://127.0.0.1:1",
              "--key-file", str(key)), "serves one board"),
            (("bridge", "--port", "/dev/nope"), "--wyoming tcp://"),
            (("dashboard", "--port", "/dev/nope", "--forward-test-sessions"),
             "give --wyoming URI too"),
            (("bridge", "--port", "/dev/nope", "--wyoming", "tcp://127.0.0.1:10700"),
             "needs the board's key"),
            (("bridge", "--port", "/dev/nope", "--wyoming", "10700", "--key-file", str(key)),
             "not a Wyoming address"),
            (("bridge", "--port", "/dev/nope", "--wyoming", "tcp://127.0.0.1:10700",
              "--uses", "cloud,gossip", "--key-file", str(key)), "unknown use 'gossip'"),
            (("bridge", "--port", "/dev/nope", "--pipelines", str(bad), "--key-file", str(key)),
             "declare whether it lets people listen to it: human_review = true or false"),
            (("bridge", "--port", "/dev/nope", "--pipelines", str(tmp_path / "none.toml")),
             "cannot read"),
            (("bridge", "--port", "/dev/nope", "--pipelines", str(not_a_table)),
             "declares no pipeline"),
            (("bridge", "--port", "/dev/nope", "--wyoming", "tcp://0.0.0.0:10700",
              "--key-file", str(key)), "add --allow with Home Assistant's address"),
            (("bridge", "--port", "/dev/nope", "--wyoming", "tcp://0.0.0.0:10700",
              "--allow", "homeassistant.local", "--key-file", str(key)),
             "give Home Assistant's IP"),
        ]:
            one_line_error(earshot(*args), needle, *code)
    assert bad.read_text().startswith("[pipelines.kitchen]")  # nothing the tool did not make
    # --port sim reaches a running `earshot sim` (it starts none: "no virtual board is running")
    for command in ("dashboard", "bridge"):
        helptext = " ".join(earshot(command, "--help").stdout.split())
        assert "'sim' or 'sim:NAME' is a running virtual board" in helptext, helptext


def test_only_loopback_and_allowed_addresses_may_receive_audio_from_the_bridge():
    from host_tools.bridge.pipelines import allowed

    assert allowed("127.0.0.1", []) and allowed("::1", [])
    assert not allowed("192.168.1.5", []) and not allowed("192.168.1.5", ["192.168.1.10"])
    assert allowed("192.168.1.10", ["192.168.1.10"])
