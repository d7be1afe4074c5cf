"""Earshot's labgrid resource, driver and protocol: a pin probe on the board under test.

labgrid offers outputs (power, GPIO, relays) but no protocol for reading a board's pins, so
the suite asks for `EarshotProbeProtocol`: the mute LED, mic power and status LED now, and
the edges a logic analyser recorded (buttons included) in its own clock. A virtual board's rig
serves one over HTTP (`earshot sim --rig`, host_tools/sim/rig_http.py); the exporter offers it
as an `EarshotProbe` resource. A labgrid environment loads this module with

    imports:
      - host_tools.hil.lgdrivers

(`earshot hil --place` does that itself). Imported only where labgrid is installed.
"""

import abc

import attr
from labgrid.driver.common import Driver
from labgrid.factory import target_factory
from labgrid.resource.common import Resource
from labgrid.step import step
from labgrid.util.proxy import proxymanager

_TIMEOUT_S = 15


class EarshotProbeProtocol(abc.ABC):
    """Reads the board's outputs (and records its buttons) from outside."""

    @abc.abstractmethod
    def pins(self):
        """{"mute_led": 0 | 1, "mic_power": 0 | 1, "status_led": (r, g, b)} now."""

    @abc.abstractmethod
    def now(self):
        """The probe's clock, in seconds."""

    @abc.abstractmethod
    def edges(self, since):
        """[(t, name, value)] recorded at or after `since` (the probe's clock), oldest first."""


@target_factory.reg_resource
@attr.s(eq=False)
class EarshotProbe(Resource):
    """An HTTP pin probe: GET url -> {"t", "pins"}; GET url/edges?since=T -> {"t", "edges"}."""

    url = attr.ib(validator=attr.validators.instance_of(str))


@target_factory.reg_driver
@attr.s(eq=False)
class EarshotProbeDriver(Driver, EarshotProbeProtocol):
    bindings = {"probe": "EarshotProbe"}

    def on_activate(self):
        import requests

        self._session = requests.Session()
        self._url = proxymanager.get_url(self.probe.url, default_port=80)

    def _get(self, path="", **params):
        r = self._session.get(self._url + path, params=params, timeout=_TIMEOUT_S)
        r.raise_for_status()
        return r.json()

    @Driver.check_active
    @step()
    def pins(self):
        pins = self._get()["pins"]
        return dict(pins, status_led=tuple(pins["status_led"]))

    @Driver.check_active
    def now(self):
        return self._get()["t"]

    @Driver.check_active
    @step(args=["since"])
    def edges(self, since):
        return [(t, name, tuple(v) if isinstance(v, list) else v)
                for t, name, v in self._get("/edges", since=since)["edges"]]
