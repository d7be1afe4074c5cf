# What a log repair had to take out of the transparency log, kept aside in flash (privacy
# contract point 9: a repair of the log loses nothing silently).
#
# When the log's chain breaks in the middle (an edited entry, flash damage), translog.py keeps
# every entry that still chains and moves only the lines that do not into this file, then the
# board warns (its status LED flickers; status "log_repair", the page, `earshot status`,
# `earshot log`) until someone at the board acknowledges it (app.py: the mute button held past
# buttons.LONG_MS).
#
# One store.save() file (atomic: old or new after a power cut), JSON:
#   {"pending": bool,        the household has not acknowledged it at the board yet
#    "items": [{"id": 16 hex digits (SHA-256 of the removed bytes: a repair a power cut
#                                    interrupted and that runs again adds nothing twice),
#               "after": seq of the last entry kept before the removed lines,
#               "bytes": how many bytes were removed,
#               "lines": how many whole lines,
#               "data": the removed bytes, hex (up to what _MAX_KEPT leaves room for),
#               "logged": the "repair" entry for it is in the log}],
#    "lost": bytes that did not fit under _MAX_KEPT (counted, not kept)}
import binascii
import hashlib

from micropython import const

from earshot import store

_MAX_KEPT = const(4096)  # raw bytes kept across all items: ~1 % of a 400 KB data partition


class Quarantine:
    def __init__(self, path):
        self.path = path
        self.state = store.load(path) or {"pending": False, "items": [], "lost": 0}

    def kept(self):
        n = 0
        for item in self.state["items"]:
            n += len(item.get("data", "")) // 2
        return n

    def add(self, removed, after, lines):
        """Keep `removed` (bytes) aside; returns the item (an existing one if it is the same)."""
        ident = binascii.hexlify(hashlib.sha256(removed).digest()[:8]).decode()
        for item in self.state["items"]:
            if item["id"] == ident:
                return item
        room = _MAX_KEPT - self.kept()
        if room < 0:
            room = 0
        keep = removed[:room]
        item = {"id": ident, "after": after, "bytes": len(removed), "lines": lines,
                "data": binascii.hexlify(keep).decode(), "logged": False}
        self.state["items"].append(item)
        self.state["lost"] = self.state.get("lost", 0) + len(removed) - len(keep)
        self.state["pending"] = True
        store.save(self.path, self.state)
        return item

    def unlogged(self):
        return [item for item in self.state["items"] if not item.get("logged")]

    def mark_logged(self):
        for item in self.state["items"]:
            item["logged"] = True
        store.save(self.path, self.state)

    @property
    def pending(self):
        return bool(self.state.get("pending"))

    def acknowledge(self):
        """The household saw the warning at the board: it stops; the bytes stay kept."""
        self.state["pending"] = False
        store.save(self.path, self.state)

    def summary(self):
        """What status reports: None when nothing was ever quarantined."""
        items = self.state["items"]
        if not items:
            return None
        removed = 0
        lines = 0
        for item in items:
            removed += item["bytes"]
            lines += item["lines"]
        return {"pending": self.pending, "repairs": len(items), "lines": lines,
                "bytes": removed, "kept_bytes": self.kept(), "lost_bytes": self.state.get("lost", 0)}
