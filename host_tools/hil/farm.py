"""A board farm on loopback: a labgrid coordinator, N virtual boards, one exporter offering each
board as a place. What `make hil-farm-demo`, `make bench-hil` and the test suite's dose run.

Each virtual board is an `earshot sim --rig` (deployed --test-mode, provisioned with its own
key, test mode armed); its serial port is shared as raw TCP by a ser2net of its own and offered
as a labgrid NetworkSerialPort (or, with serial="rfc2217", by the exporter's own ser2net as a
RawSerialPort), its rig as stock labgrid resources (exporter_yaml). The places are created with labgrid-client,
as a lab admin would. Everything listens on 127.0.0.1 and is stopped at the end.

    python -m host_tools.hil.farm demo [--boards 3] [--out DIR] [-k EXPR]
"""

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from ..errors import EarshotError, NotSupportedError
from .lab import client, labgrid_tool, need_labgrid
from .runner import interruptible

EXPORTER = "earshot-farm"
EARSHOT = str(Path(sys.executable).with_name("earshot"))
_START_S = 180  # a board deploying on a loaded 2-core machine


def ser2net():
    """ser2net's path, or NotSupportedError saying how to get it (labgrid's exporter needs it
    to share a serial port; it looks in the same places)."""
    path = shutil.which("ser2net") or ("/usr/sbin/ser2net" if os.path.exists("/usr/sbin/ser2net")
                                       else None)
    if not path:
        raise NotSupportedError("the labgrid exporter shares serial ports through ser2net, which "
                                "is not installed: apt-get install ser2net")
    return path


def exporter_yaml(boards, raw_ports=None):
    """The labgrid exporter configuration for running virtual boards (their registrations):
    one resource group per board, named as host_tools/hil/lab.py expects. With `raw_ports`
    ({name: TCP port of a raw ser2net}), each serial port is a NetworkSerialPort speaking raw
    TCP (socket://); without, a RawSerialPort the exporter shares through its own ser2net in
    RFC 2217 mode."""
    # labgrid renders this file with jinja2 first: "#" starts a statement there, "##" a comment.
    out = ["## labgrid exporter: virtual Earshot boards (earshot sim --rig), one group per place"]
    for b in boards:
        rig = b["rig"]
        if raw_ports:
            serial = ["  serial:", "    cls: NetworkSerialPort", "    host: 127.0.0.1",
                      "    port: %d" % raw_ports[b["name"]], "    speed: 115200",
                      "    protocol: raw"]
        else:
            serial = ["  serial:", "    cls: RawSerialPort", "    port: %s" % b["port"],
                      "    speed: 115200"]
        out += ["%s:" % b["name"], *serial,
                "  power:", "    cls: NetworkPowerPort", "    model: rest",
                "    host: '%s/power/{index}'" % rig, "    index: 0"]
        for line in ("mute", "action", "reset"):
            out += ["  %s:" % line, "    cls: HttpDigitalOutput",
                    "    url: %s/out/%s" % (rig, line),
                    "    body_asserted: '1'", "    body_deasserted: '0'"]
        out += ["  probe:", "    cls: EarshotProbe", "    url: %s/probe" % rig]
    return "\n".join(out) + "\n"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Rack:
    """N virtual boards (earshot sim, deployed --test-mode, each provisioned with its own key),
    reached directly: `earshot hil --port sim:NAME` (serial on the pty, the rig through the
    simulator's control socket). with Rack(3, workdir) as rack: rack.hil(...)"""

    def __init__(self, boards, workdir, prefix="earshot-", say=print, rig=False):
        self.n = boards
        self.work = Path(workdir)
        self.places = ["%s%d" % (prefix, i + 1) for i in range(boards)]
        self.keys = self.work / "keys"
        self.say = say
        self.rig = rig  # serve each board's rig over HTTP too (for an exporter)
        self.env = dict(os.environ, EARSHOT_HOME=str(self.work / "home"))
        self.env.pop("EARSHOT_PORT", None)
        self._procs = []  # (what, Popen), in start order

    def __enter__(self):
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc):
        self.stop()
        return False

    def start(self):
        self.work.mkdir(parents=True, exist_ok=True)
        self.keys.mkdir(exist_ok=True)
        self.start_boards()

    def start_boards(self):
        rig = ["--rig", "127.0.0.1:0"] if self.rig else []
        sims = [self._spawn(name, [EARSHOT, "sim", "--name", name, "--erase", "--deploy",
                                   "--test-mode", *rig], cwd=self.work)
                for name in self.places]
        for name, proc in zip(self.places, sims):
            self._wait_line(name, proc, "running:")
        with ThreadPoolExecutor(max_workers=self.n) as pool:
            list(pool.map(self._prepare, self.places))

    def _spawn(self, what, args, cwd):
        log = open(self.work / ("%s.log" % what), "w")
        proc = subprocess.Popen(args, cwd=cwd, env=self.env, stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True)
        log.close()
        self._procs.append((what, proc))
        return proc

    def _wait_line(self, what, proc, text, timeout=_START_S):
        log = self.work / ("%s.log" % what)
        deadline = time.monotonic() + timeout
        while text not in log.read_text(errors="replace"):
            if proc.poll() is not None or time.monotonic() > deadline:
                tail = log.read_text(errors="replace").strip().splitlines()[-1:]
                raise EarshotError("%s did not start: %s" % (what, tail[0] if tail else "?"))
            time.sleep(0.2)

    def _registration(self, name):
        return json.loads((self.work / "home" / "run" / ("%s.json" % name)).read_text())

    def _prepare(self, name):
        """Provision the board, then arm test mode as the lab's person would (the action
        button held while it starts): `earshot hil` never resets a board to arm it."""
        for what, args in (("provisioning", ["provision", "--port", "sim:%s" % name,
                                             "--device-id", name, "--key-file",
                                             str(self.keys / ("%s.key" % name))]),
                           ("arming test mode on", ["power", "cycle", "--hold", "action",
                                                    "--port", "sim:%s" % name])):
            r = subprocess.run([EARSHOT, *args], capture_output=True, text=True, env=self.env,
                               timeout=180)
            if r.returncode:
                raise EarshotError("%s %s: %s" % (what, name, r.stderr.strip()))

    def pids(self):
        """The processes this rack runs (each the root of its own process tree)."""
        return [proc.pid for _, proc in self._procs if proc.poll() is None]

    def stop(self):
        """Stop what we started, newest first. Each gets SIGTERM and 15 s, then SIGKILL."""
        for _, proc in reversed(self._procs):
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(15)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
        self._procs = []

    def hil_args(self):
        args = ["--keys", str(self.keys)]
        for name in self.places:
            args += ["--port", "sim:%s" % name]
        return args

    def hil(self, *args, timeout=3600, **kw):
        """`earshot hil` on every board, as a user runs it. Interrupted, it is interrupted too
        (SIGINT: it stops its runs, gives the boards back and releases its places)."""
        if kw.pop("capture_output", False):
            kw.update(stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        proc = subprocess.Popen([EARSHOT, "hil", *self.hil_args(), *args], env=self.env,
                                cwd=self.work, preexec_fn=interruptible, **kw)
        try:
            out, err = proc.communicate(timeout=timeout)
        except BaseException:
            proc.send_signal(signal.SIGINT)
            proc.communicate(timeout=120)
            raise
        return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


class Farm(Rack):
    """The rack as a labgrid lab: a coordinator, one exporter offering each board (serial
    through ser2net, its rig as stock resources) as a place. `earshot hil --place ...`."""

    def __init__(self, boards, workdir, prefix="earshot-", say=print, serial="raw"):
        need_labgrid()
        ser2net()
        super().__init__(boards, workdir, prefix, say, rig=True)
        self.coordinator = None
        if serial not in ("raw", "rfc2217"):
            raise EarshotError("serial %r: raw or rfc2217" % serial)
        self.serial = serial

    def start(self):
        self.work.mkdir(parents=True, exist_ok=True)
        self.keys.mkdir(exist_ok=True)
        self.coordinator = "127.0.0.1:%d" % free_port()
        (self.work / "coordinator").mkdir(exist_ok=True)
        self._spawn("coordinator", [labgrid_tool("labgrid-coordinator"), "-l", self.coordinator],
                    cwd=self.work / "coordinator")
        self.say("farm: coordinator %s; starting %d virtual boards" % (self.coordinator, self.n))
        self.start_boards()
        self._wait_port(self.coordinator)
        regs = [self._registration(name) for name in self.places]
        raw = self._raw_serial(regs) if self.serial == "raw" else None
        config = self.work / "exporter.yaml"
        config.write_text(exporter_yaml(regs, raw))
        exporter = self._spawn("exporter", [labgrid_tool("labgrid-exporter"), "-c",
                                            self.coordinator, "-n", EXPORTER, "--hostname",
                                            "127.0.0.1", str(config)], cwd=self.work)
        with ThreadPoolExecutor(max_workers=self.n) as pool:
            list(pool.map(self._create_place, self.places))
        self._wait_resources(exporter)
        self.say("farm: %d places on %s: %s" % (self.n, self.coordinator, ", ".join(self.places)))

    def _raw_serial(self, regs):
        """One ser2net per board sharing its serial port as raw TCP on 127.0.0.1: {name: port}.

        labgrid's exporter shares a local serial port only through ser2net's RFC 2217 mode,
        and pyserial's RFC 2217 client queues every received byte on its own (serial/rfc2217.py
        _telnet_read_loop: one Queue.put per byte), which a session's 32 kB/s of audio makes
        the labgrid path's largest cost. Raw TCP (pyserial's socket://) reads in blocks."""
        ports = {}
        for b in regs:
            port = free_port()
            # ser2net 4 takes its YAML on the command line, "#" for a newline (as labgrid's
            # exporter does, labgrid/remote/exporter.py SerialPortExport._start).
            self._spawn("ser2net-%s" % b["name"], [
                ser2net(), "-d", "-n", "-Y",
                "connection: &con01#  accepter: tcp,127.0.0.1,%d" % port,
                "-Y", "  connector: serialdev(nouucplock=true),%s,115200n81,local" % b["port"],
                "-Y", "  options:#    max-connections: 1#    kickolduser: true"], cwd=self.work)
            ports[b["name"]] = port
        for port in ports.values():
            self._wait_port("127.0.0.1:%d" % port, what="ser2net")
        return ports

    def _wait_port(self, address, timeout=30, what="the labgrid coordinator"):
        host, port = address.rsplit(":", 1)
        deadline = time.monotonic() + timeout
        while True:
            try:
                socket.create_connection((host, int(port)), timeout=1).close()
                return
            except OSError:
                if time.monotonic() > deadline:
                    raise EarshotError("%s did not listen on %s (see the logs in %s)"
                                       % (what, address, self.work)) from None
                time.sleep(0.2)

    def _create_place(self, name):
        for command in (["create"], ["add-match", "%s/%s/*" % (EXPORTER, name)]):
            code, out = client(self.coordinator, name, *command)
            if code:
                raise EarshotError("labgrid-client -p %s %s: %s" % (name, command[0], out))

    def _wait_resources(self, exporter, timeout=60):
        deadline = time.monotonic() + timeout
        while True:
            code, out = client(self.coordinator, None, "resources")
            if code == 0 and all("%s/%s/" % (EXPORTER, n) in out for n in self.places):
                return
            if exporter.poll() is not None or time.monotonic() > deadline:
                raise EarshotError("the exporter did not offer the boards (see %s)"
                                   % (self.work / "exporter.log"))
            time.sleep(0.5)

    def hil_args(self):
        args = ["--coordinator", self.coordinator, "--keys", str(self.keys)]
        for name in self.places:
            args += ["--place", name]
        return args


def demo(argv=None):
    p = argparse.ArgumentParser(prog="python -m host_tools.hil.farm demo")
    p.add_argument("--boards", type=int, default=3)
    p.add_argument("--out", default="out/hil-farm")
    p.add_argument("-k", dest="keyword")
    args = p.parse_args(argv)
    out = Path(args.out).resolve()
    if out.exists():
        shutil.rmtree(out)
    try:
        with Farm(args.boards, out) as farm:
            extra = ["--junit", str(out / "hil.xml")] + (["-k", args.keyword] if args.keyword
                                                          else [])
            print("$ earshot hil %s %s" % (" ".join(farm.hil_args()), " ".join(extra)),
                  flush=True)
            r = farm.hil(*extra)
            return r.returncode
    except EarshotError as e:
        print("earshot: %s" % e, file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    if sys.argv[1:2] != ["demo"]:
        sys.exit("usage: python -m host_tools.hil.farm demo [--boards N] [--out DIR] [-k EXPR]")
    sys.exit(demo(sys.argv[2:]))
