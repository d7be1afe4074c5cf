"""Where the files an installed earshot ships live: firmware, board files, models, audio, suite.

The repository keeps `firmware/` and `boards/` at its top; the wheel maps them into the package
(`host_tools/firmware`, `host_tools/boards`, see setup.py). So they are looked up inside the
package first (an installed wheel) and beside it second (a checkout, an editable install).
Nothing else in the host tools finds a file through `__file__`.
"""

import re
from pathlib import Path

from .errors import EarshotError

PACKAGE = Path(__file__).resolve().parent


def _shipped(name):
    for d in (PACKAGE / name, PACKAGE.parent / name):
        if d.is_dir():
            return d
    raise EarshotError("this earshot installation has no %s/ directory: reinstall it "
                       "(pip install earshot, or make venv in a checkout)" % name)


def firmware_dir():
    """The MicroPython application: boot.py, main.py, earshot/, models/."""
    return _shipped("firmware")


def boards_dir():
    """One JSON file per supported board (docs/boards.md)."""
    return _shipped("boards")


def models_dir():
    """The shipped wake-word models (<slug>.bin + <slug>.json)."""
    return firmware_dir() / "models"


def audio(name):
    """A shipped 16 kHz mono WAV clip (the demo's and the behaviour suite's wake words)."""
    return PACKAGE / "audio" / name


# The clips `earshot play sample:NAME` (and `earshot sim --play`) plays: the README's household
# talks with sample:speech, so its walkthrough runs as written on any machine.
SAMPLES = {"speech": "speech_pink-noise.wav", "alexa": "alexa_en-us.wav",
           "hey_jarvis": "hey_jarvis_en-gb-quiet.wav"}


def sound(spec):
    """The audio file `spec` names: a path as given, or `sample:NAME` for a clip earshot ships."""
    if not spec.startswith("sample:"):
        return spec
    name = spec.split(":", 1)[1]
    if name not in SAMPLES:
        raise EarshotError("no sample %r: earshot ships %s (or give a WAV file)"
                           % (name, ", ".join("sample:" + n for n in SAMPLES)))
    return audio(SAMPLES[name])


def hil_suite_dir():
    """The behaviour suite `make test` runs on virtual boards and `earshot hil` on real ones."""
    return PACKAGE / "hil" / "suite"


def firmware_version():
    """The version of the firmware this earshot deploys (firmware/earshot/__init__.py)."""
    text = (firmware_dir() / "earshot" / "__init__.py").read_text()
    return re.search(r'VERSION = "([^"]+)"', text).group(1)


def package_version():
    """This earshot's own version (the installed distribution's metadata)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("earshot")
    except PackageNotFoundError:
        return "unknown (not installed)"
