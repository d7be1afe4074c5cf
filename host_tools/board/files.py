"""The one board-file loader: `boards/<id>.json` (docs/boards.md), or a one-line error.

Every command that needs a board file (deploy, flash, the virtual board) loads it here, so an
unknown id fails the same way everywhere and nothing invents a board that does not exist.
"""

import json
import re

from ..errors import EarshotError
from ..resources import boards_dir

_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*\Z")


def known_ids():
    return sorted(p.stem for p in boards_dir().glob("*.json"))


def load(board_id):
    """The board file `board_id` as a dict; EarshotError naming the known ids otherwise."""
    directory = boards_dir()
    path = directory / ("%s.json" % board_id)
    if not _ID.match(str(board_id)) or ".." in str(board_id) or not path.is_file():
        raise EarshotError("unknown board %r: use one of %s (the files in boards/)"
                           % (board_id, ", ".join(known_ids()) or "none"))
    try:
        board = json.loads(path.read_text())
    except ValueError as e:
        raise EarshotError("boards/%s.json is not valid JSON: %s" % (board_id, e)) from None
    if not isinstance(board, dict):
        raise EarshotError("boards/%s.json does not hold a JSON object" % board_id)
    return board


def check_same_board(given, port, actual, source="says it is"):
    """Refuse a board file that is not the board on `port`: the wrong file would drive the wrong
    pins (a DevKitC deployed as a BOX-3 starts nothing and falls to the REPL). `actual` is what
    the board reports (its firmware's hello, a virtual board's registration); None: unknown."""
    if given and actual and given != actual:
        raise EarshotError("--board %s, but %s %s %r: pass --board %s (a wrong board file "
                           "would drive the wrong pins)" % (given, port, source, actual, actual))
