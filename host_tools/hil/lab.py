"""The suite on a labgrid place: acquire it, reach its serial port over the network, press its
buttons and cut its power through its drivers, release it at the end.

A place (docs/hil-rig.md) offers resources under these names, whatever hardware is behind them:

    serial   NetworkSerialPort (an exporter shares the board's USB serial through ser2net)
    power    a power port: NetworkPowerPort, USBPowerPort, YKUSHPowerPort, PDUDaemonPort ...
    mute     a digital output per button (pressed when asserted): HttpDigitalOutput,
    action   SysfsGPIO/MatchedSysfsGPIO, HIDRelay, ModbusTCPCoil ...
    reset    a digital output on the chip's EN line (asserted: held in reset)
    probe    an EarshotProbe (host_tools/hil/lgdrivers.py)

The suite asks labgrid for protocols, never drivers: PowerProtocol "power",
DigitalOutputProtocol "mute"/"action", ResetProtocol "reset", EarshotProbeProtocol "probe". A
labgrid environment (--lg-env) may bind any drivers to those names; without one, the stock
driver for each resource is bound here (DRIVERS). What a place lacks skips the tests that need
it, with that reason.

`earshot hil --place ...` acquires and releases its places through one gRPC session to the
coordinator (labgrid's own ClientSession, as `labgrid-client` uses it); a suite's pytest run
on its own (pytest --lg-env) goes through `labgrid-client`, labgrid's own command.
"""

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from ..errors import EarshotError, NotSupportedError
from .rig import RIG_DOC, Rig
from .runner import Board

DEFAULT_COORDINATOR = "127.0.0.1:20408"  # labgrid's own default
BUTTONS = ("mute", "action")
# Resource class -> the stock labgrid driver that acts on it (labgrid/driver/*.py).
DRIVERS = {
    "NetworkPowerPort": "NetworkPowerDriver",
    "USBPowerPort": "USBPowerDriver",
    "YKUSHPowerPort": "YKUSHPowerDriver",
    "PDUDaemonPort": "PDUDaemonDriver",
    "SiSPMPowerPort": "SiSPMPowerDriver",
    "HttpDigitalOutput": "HttpDigitalOutputDriver",
    "SysfsGPIO": "GpioDigitalOutputDriver",
    "MatchedSysfsGPIO": "GpioDigitalOutputDriver",
    "NetworkSysfsGPIO": "GpioDigitalOutputDriver",
    "HIDRelay": "HIDRelayDriver",
    "NetworkHIDRelay": "HIDRelayDriver",
    "ModbusTCPCoil": "ModbusCoilDriver",
    "DeditecRelais8": "DeditecRelaisDriver",
    "NetworkDeditecRelais8": "DeditecRelaisDriver",
    "EarshotProbe": "EarshotProbeDriver",
}
# The resource's binding name in each of those drivers (labgrid's `bindings`).
_BINDING = {
    "NetworkPowerDriver": "port", "USBPowerDriver": "hub", "YKUSHPowerDriver": "port",
    "PDUDaemonDriver": "port", "SiSPMPowerDriver": "port", "HttpDigitalOutputDriver": "http",
    "GpioDigitalOutputDriver": "gpio", "HIDRelayDriver": "relay", "ModbusCoilDriver": "coil",
    "DeditecRelaisDriver": "relais", "EarshotProbeDriver": "probe",
}


def need_labgrid():
    try:
        import labgrid  # noqa: F401
    except ImportError:
        raise EarshotError("a labgrid place needs labgrid: pip install 'earshot[lab]' (or "
                           "pip install labgrid)") from None


def labgrid_tool(name):
    """A labgrid command installed beside this Python (labgrid-client, -exporter, ...)."""
    path = Path(sys.executable).with_name(name)
    found = str(path) if path.exists() else shutil.which(name)
    if not found:
        raise EarshotError("%s not found: pip install 'earshot[lab]' installs labgrid" % name)
    return found


def coordinator_address(address=None):
    return address or os.environ.get("LG_COORDINATOR") or DEFAULT_COORDINATOR


def client(coordinator, place, *command, timeout=60):
    """Run `labgrid-client -x COORDINATOR -p PLACE COMMAND`; (exit status, its output)."""
    args = [labgrid_tool("labgrid-client"), "-x", coordinator]
    if place:
        args += ["-p", place]
    try:
        r = subprocess.run(args + list(command), capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return 1, "labgrid-client %s timed out after %ds" % (" ".join(command), timeout)
    return r.returncode, (r.stdout + r.stderr).strip()


def acquire(coordinator, place):
    """Acquire `place` for this user and host; True if it was acquired here, False if this
    user already held it (then it is not ours to release). EarshotError otherwise."""
    code, out = client(coordinator, place, "acquire")
    if code == 0:
        return True
    if "already acquired place %s." % place in out and " on " not in out.split("place")[-1]:
        return False
    raise EarshotError("place %s: %s" % (place, _last_line(out) or "labgrid-client acquire "
                                                                     "failed"))


def release(coordinator, place):
    code, out = client(coordinator, place, "release")
    if code:
        raise EarshotError("place %s was not released: %s" % (place, _last_line(out)))


def _last_line(text):
    lines = [x for x in text.splitlines() if x.strip()]
    last = lines[-1] if lines else ""
    return last.split(": ", 1)[1] if last.startswith("labgrid-client: error: ") else last


def env_yaml(place, coordinator):
    """A labgrid environment for one place: the place, the coordinator, Earshot's probe."""
    return ("# earshot hil --place %s: drivers are bound by resource name (host_tools/hil/lab.py)\n"
            "targets:\n  main:\n    resources:\n      RemotePlace:\n        name: %s\n"
            "options:\n  coordinator_address: '%s'\n"
            "imports:\n  - host_tools.hil.lgdrivers\n" % (place, place, coordinator))


class Coordinator:
    """One gRPC session to labgrid's coordinator for a whole `earshot hil` run: N places are
    acquired and released over it, not by N `labgrid-client` processes (each of which imports
    labgrid and gRPC: seconds of CPU per place, which a loaded 2-core farm host felt as most of
    labgrid's overhead, docs/hil-rig.md). The rules are labgrid-client's own: the same
    ClientSession methods (labgrid/remote/client.py _acquire_place, _release_place)."""

    TIMEOUT_S = 60  # as `client()` gives labgrid-client

    def __init__(self, address):
        import argparse
        import asyncio

        from labgrid.remote.client import ClientSession
        from labgrid.util.proxy import proxymanager

        self.address = address
        self.loop = asyncio.new_event_loop()
        asyncio.set_event_loop(self.loop)  # gRPC's aio channel binds to the current loop
        self.session = ClientSession(
            proxymanager.get_grpc_address(address, default_port=20408), self.loop,
            args=argparse.Namespace(allow_unmatched=False, kick=False, place=None))
        try:
            self._run(self.session.start())
        except EarshotError:
            self.close()
            raise

    def _run(self, coro):
        import asyncio

        from labgrid.remote.client import Error

        try:
            return self.loop.run_until_complete(asyncio.wait_for(coro, self.TIMEOUT_S))
        except asyncio.TimeoutError:
            raise EarshotError("labgrid coordinator %s: no answer within %d s"
                               % (self.address, self.TIMEOUT_S)) from None
        except Error as e:
            raise EarshotError(str(e)) from None
        except Exception as e:  # gRPC's errors: the coordinator is not there, or failed
            details = getattr(e, "details", None)
            raise EarshotError("labgrid coordinator %s: %s" % (
                self.address, (details() if callable(details) else None) or e)) from None

    def acquire(self, place):
        """True if acquired here; False if this user on this host held it already (then it is
        not ours to release); EarshotError otherwise (the place's own words)."""
        try:
            self._run(_quiet(self.session._acquire_place(place)))
        except EarshotError as e:
            if str(e) == "You have already acquired place %s." % place:
                return False
            raise EarshotError("place %s: %s" % (place, e)) from None
        return True

    def release(self, place):
        try:
            self._run(_quiet(self.session._release_place(place)))
        except EarshotError as e:
            raise EarshotError("place %s was not released: %s" % (place, e)) from None

    def close(self):
        import asyncio

        try:
            self.loop.run_until_complete(self.session.stop())
            self.loop.run_until_complete(self.session.close())
        except Exception:  # the coordinator went away first: nothing left to close
            pass
        finally:
            self.loop.close()
            asyncio.set_event_loop(None)


async def _quiet(coro):
    """labgrid's methods print "acquired place X"; earshot hil says what it did itself."""
    import contextlib
    import io

    with contextlib.redirect_stdout(io.StringIO()):
        return await coro


class Places:
    """`earshot hil --place A --place B`: acquire every place (or none), hand the runner one
    Board per place, release them all at the end, even on Ctrl-C."""

    def __init__(self, names, coordinator=None, lg_env=None, common=()):
        need_labgrid()
        if len(set(names)) != len(names):
            raise EarshotError("a place is given twice: each board needs its own --place")
        self.names = list(names)
        self.coordinator = coordinator_address(coordinator)
        self.lg_env = os.path.abspath(lg_env) if lg_env else None
        if self.lg_env and not os.path.isfile(self.lg_env):
            raise EarshotError("--lg-env %s: no such file" % lg_env)
        self.common = list(common)
        self.ours = []
        self.session = None
        self.tmp = Path(tempfile.mkdtemp(prefix="earshot-places-"))

    def __enter__(self):
        # The session is closed before the suites start (and opened again to release): no
        # gRPC thread may run in this process while it forks their pytest processes.
        self.session = Coordinator(self.coordinator)
        try:
            errors = [e for e in map(self._acquire, self.names) if e]
            if errors:
                self._release_ours()
                raise errors[0]
        finally:
            self._close()
        boards = []
        for name in self.names:
            env = self.lg_env
            if not env:
                env = str(self.tmp / ("%s.yaml" % name))
                Path(env).write_text(env_yaml(name, self.coordinator))
            boards.append(Board(name, ["--lg-env", env, "--lg-coordinator", self.coordinator,
                                       "--earshot-place", name, "--earshot-place-held",
                                       *self.common]))
        return boards

    def _acquire(self, name):
        try:
            if self.session.acquire(name):
                self.ours.append(name)
        except EarshotError as e:
            return e
        return None

    def __exit__(self, *exc):
        self._release_ours()
        self._close()
        shutil.rmtree(self.tmp, ignore_errors=True)
        return False

    def _close(self):
        if self.session is not None:
            self.session.close()
            self.session = None

    def _release_ours(self):
        ours, self.ours = self.ours, []
        if not ours:
            return
        if self.session is None:
            try:
                self.session = Coordinator(self.coordinator)
            except EarshotError as e:
                print("earshot: places %s were not released: %s" % (", ".join(ours), e),
                      file=sys.stderr)
                return
        errors = [e for e in map(self._release, ours) if e]
        if errors:
            print("earshot: %s" % errors[0], file=sys.stderr)

    def _release(self, name):
        try:
            self.session.release(name)
        except EarshotError as e:
            return e
        return None


# -- inside the suite's pytest process ------------------------------------------------------


def place_target(config, lg_env):
    """The SerialTarget for the place in labgrid's environment (pytest --lg-env): acquired
    here unless `earshot hil` holds it, released when pytest ends."""
    from labgrid.remote.client import find_role_by_place

    from . import lgdrivers  # noqa: F401 - registers EarshotProbe before the place expands
    from .target import SerialTarget

    env = _environment(config, lg_env)
    place = config.getoption("--earshot-place")
    role = find_role_by_place(env.config.get_targets(), place) if place else "main"
    if not role or role not in env.config.get_targets():
        raise EarshotError("%s has no target for place %s (a RemotePlace named so)"
                           % (lg_env, place or "main"))
    if place is None:
        place = _remote_place_name(env.config.get_targets()[role])
    coordinator = env.config.get_option("coordinator_address", coordinator_address())
    if place and not config.getoption("--earshot-place-held"):
        if acquire(coordinator, place):
            config.add_cleanup(lambda: release(coordinator, place))
    try:
        target = env.get_target(role)
    except Exception as e:  # labgrid's own errors, e.g. an exporter gone
        raise EarshotError("place %s: %s" % (place, " ".join(str(e).split()))) from None
    bind_drivers(target)
    place = place or "%s (%s)" % (role, os.path.basename(lg_env))  # a board on this machine
    return SerialTarget(serial_url(target, place), LabgridRig(target, place),
                        board_id=config.getoption("--earshot-board"),
                        name=config.getoption("--earshot-name") or place)


def _environment(config, lg_env):
    try:
        from labgrid.pytestplugin.hooks import LABGRID_ENV_KEY

        env = config.stash.get(LABGRID_ENV_KEY, None)
    except ImportError:
        env = None
    if env is None:
        from labgrid import Environment

        env = Environment(config_file=lg_env)
    return env


def _remote_place_name(target_config):
    from labgrid.factory import target_factory

    resources, _ = target_factory.normalize_config(target_config)
    names = list(resources.get("RemotePlace", {}))
    return names[0] if names else None


def serial_url(target, place):
    """The pyserial URL of the place's serial port: socket:// for a raw TCP export (a
    NetworkSerialPort with protocol raw), rfc2217:// through the exporter's ser2net."""
    from labgrid.resource import NetworkSerialPort, RawSerialPort
    from labgrid.util.proxy import proxymanager

    for res in target.resources:
        if isinstance(res, NetworkSerialPort):
            host, port = proxymanager.get_host_and_port(res)
            if res.protocol == "rfc2217":
                # As labgrid's SerialDriver does (labgrid/driver/serialdriver.py on_activate):
                # ser2net does not answer SET_CONTROL for a port without modem lines (a pty,
                # USB CDC), and pyserial would wait for it.
                return "rfc2217://%s:%s?ign_set_control" % (host, port)
            return "socket://%s:%s" % (host, port)
        if isinstance(res, RawSerialPort):
            return res.port
    raise EarshotError("place %s has no serial port: its exporter must offer the board's USB "
                       "serial (RawSerialPort or USBSerialPort, named serial)" % place)


def bind_drivers(target):
    """Bind the stock driver to each resource named as docs/hil-rig.md says, unless the
    environment already bound a driver to it."""
    from labgrid.driver import DigitalOutputPowerDriver, DigitalOutputResetDriver
    from labgrid.factory import target_factory
    from labgrid.protocol import PowerProtocol

    bound = {r for d in target.drivers for r in d.get_bound_resources()}
    names = set()
    for res in list(target.resources):
        driver = DRIVERS.get(type(res).__name__)
        if not driver or res in bound or res.name not in ("power", "probe", "reset") + BUTTONS:
            continue
        target.set_binding_map({_BINDING[driver]: res.name})
        target_factory.class_from_string(driver)(target, res.name)
        names.add(res.name)
    if "reset" in names:
        target.set_binding_map({"output": "reset"})
        DigitalOutputResetDriver(target, "reset", delay=0.2)
    power = [d for d in target.drivers if d.name == "power"]
    if power and not any(isinstance(d, PowerProtocol) for d in power):
        # A relay (a digital output) in the board's supply: closed is on.
        target.set_binding_map({"output": "power"})
        DigitalOutputPowerDriver(target, "power", delay=1.0)


class LabgridRig(Rig):
    """A place's drivers, by protocol and name. What the place lacks says so."""

    def __init__(self, target, place):
        self.target = target
        self.name = "labgrid place %s" % place
        self.place = place

    def _driver(self, protocol, name, what):
        from labgrid.exceptions import NoDriverFoundError

        try:
            return self.target.get_driver(protocol, name=name)
        except NoDriverFoundError:
            raise NotSupportedError("%s needs %s on place %s (%s '%s'; %s)"
                                    % (what[0], what[1], self.place,
                                       getattr(protocol, "__name__", protocol), name, RIG_DOC)
                                    ) from None

    def _button(self, button):
        return self._driver("DigitalOutputProtocol", button,
                            ("pressing '%s'" % button, "a button output"))

    def hold(self, button):
        for b in button.split("+"):
            self._button(b).set(True)

    def release(self, button):
        for b in button.split("+"):
            self._button(b).set(False)

    def _power(self):
        return self._driver("PowerProtocol", "power",
                            ("cutting power", "a relay on the board's supply"))

    def power_off(self):
        self._power().off()

    def power_on(self):
        self._power().on()

    def reset(self):
        self._driver("ResetProtocol", "reset",
                     ("resetting the chip", "a line on its EN pin")).reset()

    def _probe(self):
        from .lgdrivers import EarshotProbeProtocol

        return self._driver(EarshotProbeProtocol, "probe",
                            ("reading pins", "a probe on the mute LED and mic power"))

    def pins(self):
        return self._probe().pins()

    def now(self):
        return self._probe().now()

    def edges(self, since):
        return self._probe().edges(since)

    def describe(self):
        from labgrid.exceptions import NoDriverFoundError

        from .lgdrivers import EarshotProbeProtocol

        def has(protocol, name):
            try:
                self.target.get_driver(protocol, name=name, activate=False)
                return True
            except NoDriverFoundError:
                return False

        return {"buttons": all(has("DigitalOutputProtocol", b) for b in BUTTONS),
                "power": has("PowerProtocol", "power"), "reset": has("ResetProtocol", "reset"),
                "probe": has(EarshotProbeProtocol, "probe")}

    def close(self):
        self.target.deactivate_all_drivers()
