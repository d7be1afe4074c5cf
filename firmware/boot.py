# Earshot boot.py: runs first on every reset. Nothing here touches the microphone; the
# hardware stays in its fail-closed reset state (mic unpowered, mute LED lit) until main.py.
# Developer builds only: a locked build has no boot.py (see main.py and docs/threat-model.md).
