"""Where the board's audio may go: each Home Assistant pipeline, and what it does to audio.

A pipeline is a Wyoming endpoint the bridge serves (Home Assistant connects to it as to any
satellite) plus the household's declaration of what the pipeline behind it does with audio,
flag by flag. A session goes to a pipeline only if its consent allows every declared use.

    # pipelines.toml: every use must be declared, true or false
    [pipelines.kitchen]
    listen = "tcp://127.0.0.1:10700"
    cloud = true          # leaves the home (e.g. Home Assistant Cloud speech-to-text)
    human_review = false  # people may listen to it
    retain = false        # kept after use (e.g. Home Assistant's debug recordings)
    training = false      # used to train models

`earshot bridge --wyoming URI` is one pipeline named "home-assistant" whose uses are --uses
(default: cloud, what the board itself assumes of any audio that leaves it).
"""

import ipaddress
import tomllib
from dataclasses import dataclass
from urllib.parse import urlparse

from ..errors import EarshotError
from ..legend import PLAIN_FLAGS

USES = ("cloud", "human_review", "retain", "training")  # what a pipeline can do to audio
_WORDS = dict(PLAIN_FLAGS)
DEFAULT_NAME = "home-assistant"


@dataclass(frozen=True)
class Pipeline:
    name: str
    uri: str  # tcp://HOST:PORT or unix:///path: where Home Assistant connects
    uses: frozenset  # subset of USES

    def refusal(self, consent):
        """None if a session with consent flag names `consent` may go here, else why not."""
        missing = [u for u in USES if u in self.uses and u not in consent]
        if not missing:
            return None
        return "pipeline '%s' %s, which this session's consent (%s) does not allow" % (
            self.name, " and ".join(_does(u) for u in missing),
            ", ".join(consent) or "nothing")

    def describe(self, where=True):
        """One line; `where=False` leaves out its URL (the household's page)."""
        said = ["%s: %s" % (_WORDS[u], "yes" if u in self.uses else "no") for u in USES]
        return "pipeline '%s'%s (%s)" % (self.name, " on %s" % self.uri if where else "",
                                         "; ".join(said))


def _does(use):
    return {"cloud": "sends audio out of the home (cloud)",
            "human_review": "lets people listen to it (human_review)",
            "retain": "keeps it (retain)",
            "training": "uses it to train models (training)"}[use]


def parse_uses(text):
    """`cloud,retain` -> frozenset; `none` for a pipeline that does none of them."""
    names = [n.strip() for n in (text or "").split(",") if n.strip()]
    if names == ["none"]:
        return frozenset()
    bad = [n for n in names if n not in USES]
    if bad or not names:
        raise EarshotError("--uses: %s; declare what the pipeline does to audio: any of %s "
                           "(comma-separated), or none" % (
                               "unknown use %r" % bad[0] if bad else "nothing given",
                               ", ".join(USES)))
    return frozenset(names)


def check_uri(uri, where):
    u = urlparse(uri)
    try:
        port = u.port  # ValueError for a port out of 0-65535
    except ValueError:
        port = None
    if u.scheme == "tcp" and u.hostname and port:
        return uri
    if u.scheme == "unix" and u.path:
        return uri
    raise EarshotError("%s: %r is not a Wyoming address: use tcp://HOST:PORT (Home Assistant "
                       "connects there) or unix:///path/to.sock" % (where, uri))


def check_allowed(pipelines, allow):
    """Wyoming has no password: whoever connects to a pipeline gets its audio. On loopback that
    is this computer; anywhere else the household names Home Assistant's address (--allow)."""
    for a in allow:
        try:
            ipaddress.ip_address(a)
        except ValueError:
            raise EarshotError("--allow %s: give Home Assistant's IP address, e.g. "
                               "--allow 192.168.1.10" % a) from None
    for p in pipelines:
        u = urlparse(p.uri)
        if u.scheme == "tcp" and not _loopback(u.hostname) and not allow:
            raise EarshotError("pipeline %s listens on %s, where any device on the network "
                               "could connect and receive the audio: add --allow with Home "
                               "Assistant's address (e.g. --allow 192.168.1.10)"
                               % (p.name, p.uri))


def allowed(peer_host, allow):
    """May a connection from `peer_host` receive audio? Loopback always; else only --allow."""
    return _loopback(peer_host) or any(
        ipaddress.ip_address(peer_host) == ipaddress.ip_address(a) for a in allow)


def _loopback(host):
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def single(uri, uses_text):
    """The pipeline of `--wyoming URI [--uses ...]`."""
    uses = parse_uses(uses_text if uses_text is not None else "cloud")
    return [Pipeline(DEFAULT_NAME, check_uri(uri, "--wyoming"), uses)]


def load(path):
    """Pipelines from a TOML file (module doc); EarshotError saying how to fix a mistake."""
    try:
        with open(path, "rb") as f:
            data = tomllib.load(f)
    except OSError as e:
        raise EarshotError("cannot read %s: %s" % (path, e.strerror or e)) from None
    except tomllib.TOMLDecodeError as e:
        raise EarshotError("%s is not valid TOML: %s" % (path, e)) from None
    table = data.get("pipelines")
    extra = set(data) - {"pipelines"}
    if extra:
        raise EarshotError("%s: unknown section %s: pipelines go under [pipelines.NAME]"
                           % (path, ", ".join(sorted(extra))))
    if not isinstance(table, dict) or not table:
        raise EarshotError("%s declares no pipeline: add [pipelines.NAME] with listen = "
                           "\"tcp://127.0.0.1:10700\" and %s = true/false"
                           % (path, " / ".join(USES)))
    out, seen = [], {}
    for name, spec in table.items():
        where = "%s: pipeline %s" % (path, name)
        if not isinstance(spec, dict):
            raise EarshotError("%s: write it as a table [pipelines.%s]" % (where, name))
        unknown = set(spec) - set(USES) - {"listen"}
        if unknown:
            raise EarshotError("%s: unknown key %s; a pipeline has listen and %s"
                               % (where, ", ".join(sorted(unknown)), ", ".join(USES)))
        if "listen" not in spec:
            raise EarshotError("%s: say where Home Assistant connects: listen = "
                               "\"tcp://127.0.0.1:10700\"" % where)
        uri = check_uri(str(spec["listen"]), where)
        if uri in seen:
            raise EarshotError("%s listens on %s like pipeline %s: give each its own port"
                               % (where, uri, seen[uri]))
        seen[uri] = name
        for use in USES:
            if not isinstance(spec.get(use), bool):
                raise EarshotError("%s: declare whether it %s: %s = true or false"
                                   % (where, _does(use).split(" (")[0], use))
        out.append(Pipeline(str(name), uri, frozenset(u for u in USES if spec[u])))
    return out
