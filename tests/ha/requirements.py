"""The Python packages Home Assistant needs to start with the integrations make ha-e2e uses.

`hass --skip-pip` installs nothing at start, so the venv must already hold every requirement
of the integrations it always loads (homeassistant/bootstrap.py: CORE_INTEGRATIONS and
DEFAULT_INTEGRATIONS: frontend, backup, ...) and of those the test configures (wyoming,
conversation, assist_pipeline), with their dependencies, as each manifest.json pins them.
Run with the Home Assistant venv's Python; prints them on one line for pip.
"""

import json
import sys
from pathlib import Path

import homeassistant.bootstrap as bootstrap

WANTED = ("wyoming", "conversation", "assist_pipeline")


def requirements(domains):
    root = Path(bootstrap.__file__).parent / "components"
    todo, seen, reqs = set(domains), set(), set()
    while todo:
        domain = todo.pop()
        if domain in seen:
            continue
        seen.add(domain)
        manifest = root / domain / "manifest.json"
        if manifest.exists():
            m = json.loads(manifest.read_text())
            reqs.update(m.get("requirements", []))
            todo.update(m.get("dependencies", []))
    return sorted(reqs)


if __name__ == "__main__":
    always = set(bootstrap.CORE_INTEGRATIONS) | set(bootstrap.DEFAULT_INTEGRATIONS)
    print(" ".join(requirements(always | set(WANTED) | set(sys.argv[1:]))))
