"""Where earshot keeps what it remembers between runs: one place, with XDG defaults.

    $EARSHOT_HOME            everything earshot keeps: sim/ and run/ (earshot sim, see
                             host_tools/sim/runs.py) and state/ (below)
    state directory          $EARSHOT_STATE_DIR, else $EARSHOT_HOME/state, else
                             $XDG_STATE_HOME/earshot, else ~/.local/state/earshot:
      receiver.json          the receiver history (records/history.py); $EARSHOT_HISTORY or
                             --history name another file
      log-dates/             when the dashboard first saw each log entry (hub/dates.py)
      dashboard-token        a LAN dashboard's token (dashboard/guard.py)

The specific variables ($EARSHOT_STATE_DIR, $EARSHOT_HISTORY) still win, so a setup that used
them keeps working.
"""

import os
from pathlib import Path

HOME_ENV = "EARSHOT_HOME"
STATE_ENV = "EARSHOT_STATE_DIR"
HISTORY_ENV = "EARSHOT_HISTORY"


def state_dir():
    if os.environ.get(STATE_ENV):
        return Path(os.environ[STATE_ENV])
    if os.environ.get(HOME_ENV):
        return Path(os.environ[HOME_ENV]) / "state"
    xdg = os.environ.get("XDG_STATE_HOME") or os.path.join(os.path.expanduser("~"), ".local",
                                                            "state")
    return Path(xdg) / "earshot"


def history_path():
    if os.environ.get(HISTORY_ENV):
        return Path(os.environ[HISTORY_ENV])
    return state_dir() / "receiver.json"
