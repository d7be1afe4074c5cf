"""What a receiver remembers between runs, per device (docs/sessions.md, "Receiver history").

`earshot verify`, `earshot record` and `earshot log` keep one small JSON file, so what a single
run cannot see is seen across runs: the same session in a second capture (replayed), a whole
session missing between two captures (the next header's `prev` does not chain), a counter that
went backwards, and a transparency log rolled back or rewritten since it was last verified.

    {"earshot_receiver": 1,
     "devices": {"<device id>": {
         "sessions": {"<counter>": {"tag": hex, "digest": hex or null, "source": str,
                                    "prev": hex (the tag the header chains to)}},
         "log_head": [seq, "hash hex"] or null,
         "chip": hex (optional: the chip id of the board `earshot provision` gave this
                 device id on this computer)}}}

`source` names where a session was first received (a capture's SHA-256, or the directory
`record` stored it in), so verifying the same capture twice is not a replay of itself. At most
MAX_SESSIONS per device are kept (the oldest go; the highest counter stays, so nothing older can
come back). The file is written atomically (tmp + rename) and only ever by this module: a file
at that path that is not one of ours is refused, never overwritten.
"""

import contextlib
import json
import os
import tempfile
import threading
from pathlib import Path

from ..errors import EarshotError

MARK = "earshot_receiver"
FORMAT = 1
MAX_SESSIONS = 4096


def default_path():
    """$EARSHOT_HISTORY, else receiver.json in earshot's state directory (host_tools/places.py:
    $EARSHOT_STATE_DIR, $EARSHOT_HOME/state, $XDG_STATE_HOME/earshot, ~/.local/state/earshot)."""
    from ..places import history_path

    return history_path()


class History:
    def __init__(self, path=None, data=None):
        self.path = Path(path) if path else None
        self._data = data or {MARK: FORMAT, "devices": {}}
        self._changed = False
        # One process may receive from several boards (the dashboard): their threads share
        # one history and take this lock around everything they do with it.
        self.lock = threading.RLock()

    @classmethod
    def load(cls, path=None):
        path = Path(path) if path else default_path()
        try:
            text = path.read_text()
        except FileNotFoundError:
            return cls(path)
        except OSError as e:
            raise EarshotError("cannot read receiver history %s: %s"
                               % (path, e.strerror or e)) from None
        try:
            data = json.loads(text)
        except ValueError:
            data = None
        if not isinstance(data, dict) or data.get(MARK) != FORMAT or \
                not isinstance(data.get("devices"), dict):
            raise EarshotError("%s is not an earshot receiver history: move it away or pass "
                               "--history with another file" % path)
        return cls(path, data)

    def save(self):
        """Write what this process knows, merged with what other earshot programs wrote to the
        file since it was read (a dashboard runs for days beside `record` and `provision`):
        sessions either knows, the chip a device id was given to, the newer log head."""
        if not self._changed or self.path is None:
            return
        with self.lock:
            self._merge_from_disk()
        tmp = None
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            # A temporary file of our own (created, never an existing name), then renamed over.
            fd, tmp = tempfile.mkstemp(prefix=self.path.name + ".", suffix=".tmp",
                                       dir=self.path.parent)
            with os.fdopen(fd, "w") as f:
                f.write(json.dumps(self._data, indent=1, sort_keys=True))
            os.replace(tmp, self.path)
            tmp = None
        except OSError as e:
            raise EarshotError("cannot write receiver history %s: %s"
                               % (self.path, e.strerror or e)) from None
        finally:
            if tmp is not None:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)
        self._changed = False  # on disk now

    def _merge_from_disk(self):
        try:
            disk = History.load(self.path)._data["devices"]
        except EarshotError:
            if self.path.exists():
                raise  # someone else's file now: refused, never overwritten
            return
        mine = self._data["devices"]
        for dev, theirs in disk.items():
            d = mine.setdefault(dev, {"sessions": {}, "log_head": None})
            for counter, entry in theirs.get("sessions", {}).items():
                d["sessions"].setdefault(counter, entry)
            if theirs.get("chip") and not d.get("chip"):
                d["chip"] = theirs["chip"]
            head = theirs.get("log_head")
            if head and (not d.get("log_head") or head[0] > d["log_head"][0]):
                d["log_head"] = head
            _keep_newest(d)

    # -- sessions ----------------------------------------------------------------------------

    def _device(self, dev, create=False):
        devices = self._data["devices"]
        if dev not in devices and create:
            devices[dev] = {"sessions": {}, "log_head": None}
        return devices.get(dev)

    def get(self, dev, counter):
        d = self._device(dev)
        return d["sessions"].get(str(counter)) if d else None

    def max_counter(self, dev):
        d = self._device(dev)
        if not d or not d["sessions"]:
            return None
        return max(int(c) for c in d["sessions"])

    def previous(self, dev, counter):
        """The session received with the highest counter below `counter`, or None."""
        d = self._device(dev)
        if not d:
            return None
        below = [int(c) for c in d["sessions"] if int(c) < counter]
        return d["sessions"][str(max(below))] if below else None

    def awaited(self, dev, tag):
        """Does a session received earlier chain to the header with this tag (hex)? Then that
        header is the one reported missing before it, arriving late: no replay."""
        d = self._device(dev)
        return bool(d) and any(e.get("prev") == tag for e in d["sessions"].values())

    def commit(self, headers, source):
        """Remember the sessions a run received (verify_stream's result.headers)."""
        for info in headers:
            d = self._device(info.device_id, create=True)
            key = str(info.counter)
            entry = {"tag": info.tag, "digest": info.digest or None, "source": source}
            if info.prev:
                entry["prev"] = info.prev
            if d["sessions"].get(key) != entry:
                d["sessions"][key] = entry
                self._changed = True
            _keep_newest(d)

    def knows(self, dev):
        d = self._device(dev)
        return bool(d and d["sessions"])

    def baseline(self, dev, counter, tag, source):
        """Where this history starts for a device it never heard of: the board's newest
        session then (counter 0 and a zero tag for a board that never sent one). The next
        session must chain to it, so one lost before anything was kept is noticed."""
        d = self._device(dev, create=True)
        d["sessions"].setdefault(str(counter), {"tag": tag, "digest": None, "source": source,
                                                "baseline": True})
        self._changed = True

    # -- which board is the device ------------------------------------------------------------

    def chip(self, dev):
        """The chip id (a board's status `chip_id`) this computer provisioned as `dev`, or None."""
        d = self._device(dev)
        return d.get("chip") if d else None

    def not_the_board(self, status):
        """Why a board (its hello/status reply) must not be received under the device id it
        gives, or None: this computer gave that id to another chip. Its sessions, kept under
        the id, would make the real board's later sessions look like replays."""
        dev, chip = status.get("device_id"), status.get("chip_id")
        given = self.chip(dev) if dev else None
        if not (given and chip and given != chip):
            return None
        return ("this board (chip %s) calls itself %s, but this computer gave that device id to "
                "another board (chip %s): receiving it would make that board's sessions look "
                "like replays of this one's. Give one of them another id (earshot provision "
                "--device-id), or use another --history" % (chip, dev, given))

    def set_chip(self, dev, chip):
        d = self._device(dev, create=True)
        if d.get("chip") != chip:
            d["chip"] = chip
            self._changed = True

    # -- the transparency log ------------------------------------------------------------------

    def log_head(self, dev):
        d = self._device(dev)
        head = d.get("log_head") if d else None
        return tuple(head) if head else None

    def set_log_head(self, dev, head):
        d = self._device(dev, create=True)
        if d.get("log_head") != list(head):
            d["log_head"] = list(head)
            self._changed = True


def _keep_newest(device):
    """At most MAX_SESSIONS per device: the oldest go, the highest counter stays."""
    if len(device["sessions"]) > MAX_SESSIONS:
        for c in sorted(int(c) for c in device["sessions"])[:-MAX_SESSIONS]:
            del device["sessions"][str(c)]
