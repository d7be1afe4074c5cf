"""Which packages the wheel holds; the rest of the metadata is in pyproject.toml.

The repository keeps `firmware/` and `boards/` at its top (the firmware is MicroPython for the
board, not a host package), and an installed earshot needs them to deploy, flash and simulate:
they ship inside the package as host_tools/firmware and host_tools/boards
(host_tools.resources finds them there, or beside the package in a checkout).
"""

from setuptools import find_namespace_packages, setup

NOT_CODE = ["*__pycache__*"]
firmware = ["host_tools.firmware"] + ["host_tools.firmware." + p for p in
                                      find_namespace_packages(where="firmware", exclude=NOT_CODE)]
setup(
    packages=find_namespace_packages(include=["host_tools", "host_tools.*"], exclude=NOT_CODE)
    + firmware + ["host_tools.boards"],
    package_dir={"host_tools.firmware": "firmware", "host_tools.boards": "boards"},
)
