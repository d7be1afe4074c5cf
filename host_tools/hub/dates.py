"""When each transparency-log entry happened, in the household's calendar.

The board has no clock: an entry carries `t`, milliseconds since the board booted. The host
dates an entry in one of two ways, and otherwise says it does not know:
- it saw the entry appear (a dashboard was watching): the time it first saw it, remembered
  in a small file so a restarted dashboard keeps the dates;
- the entry belongs to the board's current boot: the board's uptime, read together with the
  log, places the boot on the host's clock. The current boot is the newest run of entries
  whose `t` does not go backwards and is not above the uptime (a reset restarts `t` at 0).
An entry the host never saw, from an earlier boot, stays undated: a wrong date would be worse.
"""

import contextlib
import json
import os
import tempfile
from pathlib import Path

# Entries whose first sighting is remembered, per board: enough for the firmware's bounded log
# (firmware/earshot/translog.py keeps at most 256 entries) with room to spare.
_KEEP = 1024


class EntryDates:
    """First sightings of log entries (by entry hash), kept in a JSON file we create."""

    def __init__(self, path):
        self.path = Path(path)
        self.seen = {}
        try:
            data = json.loads(self.path.read_text())
            if isinstance(data, dict):
                self.seen = {str(k): float(v) for k, v in data.items()}
        except (OSError, ValueError, TypeError):
            self.seen = {}  # missing or unreadable: start again, never fail the page

    def date(self, entries, uptime_ms, read_at):
        """{entry hash: epoch seconds} for the entries that can be dated (see module doc)."""
        boot = read_at - uptime_ms / 1000.0
        current = set()
        newer_t = uptime_ms
        for e in reversed(entries):
            if e.t > newer_t:
                break
            current.add(e.hash)
            newer_t = e.t
        dates = {}
        for e in entries:
            if e.hash in self.seen:
                dates[e.hash] = self.seen[e.hash]
            elif e.hash in current:
                dates[e.hash] = boot + e.t / 1000.0
        self._remember(entries, dates)
        return dates

    def _remember(self, entries, dates):
        fresh = {e.hash: dates[e.hash] for e in entries if e.hash in dates}
        if fresh == {k: self.seen.get(k) for k in fresh} and len(self.seen) <= _KEEP:
            return
        self.seen.update(fresh)
        if len(self.seen) > _KEEP:
            for k in sorted(self.seen, key=self.seen.get)[: len(self.seen) - _KEEP]:
                del self.seen[k]
        tmp = None
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=self.path.name + ".", suffix=".tmp",
                                       dir=self.path.parent)  # ours: never an existing name
            with os.fdopen(fd, "w") as f:
                f.write(json.dumps(self.seen))
            os.replace(tmp, self.path)
            tmp = None
        except OSError:
            pass  # a read-only home: the dates still hold for this run
        finally:
            if tmp is not None:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)
