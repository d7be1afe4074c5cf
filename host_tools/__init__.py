"""Earshot host tools: the `earshot` command and its library."""


def firmware_version():
    """The firmware version in this checkout (firmware/earshot/__init__.py)."""
    import re
    from pathlib import Path

    text = (Path(__file__).resolve().parent.parent / "firmware" / "earshot" / "__init__.py").read_text()
    return re.search(r'VERSION = "([^"]+)"', text).group(1)
