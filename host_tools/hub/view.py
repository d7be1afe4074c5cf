"""One board as the board reported it: what the household page shows.

Built only from facts the board sent (hub.link): its status replies and events, its session
records as verified here, its transparency log as verified here. Nothing is set from what the
host asked for: a "mute" request changes nothing here until the board reports that its mute
interlock switched (firmware/earshot/mute.py reports the change after it has driven the
mic-power and mute-LED pins).
"""

import json
import time

from .. import legend
from .. import vocabulary as v

MAX_REFUSALS = 20
MAX_TIMELINE = 300


def plain_consent(preset, flags, guest):
    """Consent as the household reads it: per flag yes/no, the preset and its LED."""
    light = legend.status_light(preset if preset in v.STATUS_LED else "custom")
    return {
        "preset": preset, "guest": bool(guest), "flags": list(flags),
        "plain": [{"flag": f, "words": words, "allowed": f in flags}
                  for f, words in legend.PLAIN_FLAGS],
        "led": {"rgb": list(light.rgb), "colour": light.colour, "means": light.means,
                "you_can": light.you_can},
    }


class BoardView:
    def __init__(self, ident, port):
        self.id = ident
        self.port = port
        self.link = {"state": "connecting", "error": None}
        self.board = {}
        self.muted = None  # None: not known (the board has not said, or is not connected)
        self.consent = None
        # The host request the board waits on the household for: {"what" (consent or
        # provision: a key replacement), "target", "deadline" (monotonic) or None}
        self.pending = None
        self.outcome = None  # the last confirmation's outcome
        self.gate = None
        self.streaming = None
        self.last_session = None
        self.refusals = []
        self.pipelines = []
        self.timers = []  # Home Assistant's timers on this satellite (bridge/timers.py)
        self.log = {"state": "unread", "error": None}
        self.timeline = []
        self.version = 0  # bumped on every change: listeners compare

    # -- facts in --------------------------------------------------------------------------

    def apply(self, kind, data):
        """Update from one fact; returns which parts changed ({"state"}, {"log"}, or empty)."""
        handler = getattr(self, "_on_" + kind, None)
        if handler is None:
            return set()
        changed = handler(data) or set()
        if changed:
            self.version += 1
        return changed

    def _on_link(self, data):
        self.link = dict(data)
        if data["state"] != "up":
            # A board we cannot hear from is not shown as safe or unsafe, nor with the consent,
            # light or request it last reported: all of it is unknown until it answers again.
            self.muted = None
            self.consent = None
            self.gate = None
            self.pending = None
            self.streaming = None
        return {"state"}

    def _on_status(self, s):
        self.board = {k: s.get(k) for k in ("device_id", "board", "version", "wake_word", "speaker",
                                            "test_mode", "provisioned", "access")}
        # A log repair set aside lines and nobody acknowledged it at the board: its LED flickers.
        self.board["repair_pending"] = v.repair_pending(s)
        self.muted = bool(s.get("muted"))
        self.gate = s.get("gate")
        self._consent(s.get("consent") or {})
        waiting = s.get("confirm")
        if isinstance(waiting, dict):  # firmware that reports it: consent or key replacement
            self._waiting(waiting.get("what"), waiting.get("target"), waiting.get("seconds"),
                          waiting.get("by"))
        elif "confirm" in s:
            self.pending = None
        return {"state"}

    def _waiting(self, what, target, seconds, by=None):
        if not (self.pending and self.pending["what"] == what and
                self.pending["target"] == target and self.pending["deadline"] is not None):
            deadline = None if seconds is None else time.monotonic() + float(seconds)
            self.pending = {"what": what, "target": target, "deadline": deadline, "by": by}
        elif by:
            self.pending["by"] = by

    def _consent(self, c):
        if not c:
            return
        self.consent = plain_consent(c.get("preset"), c.get("flags") or [], c.get("guest"))
        if self.pending and self.pending["what"] != "consent":
            return  # a key replacement waits: consent says nothing about it
        target = c.get("pending")
        if target:
            self._waiting("consent", target, None)
        else:
            self.pending = None

    def _on_event(self, ev):
        kind = ev.get("ev")
        if kind == "state" and ev.get("m") == "mute":
            if ev.get("new") not in ("muted", "unmuted"):
                return set()  # not what the firmware says: never taken for "unmuted"
            self.muted = ev["new"] == "muted"
        elif kind == "state" and ev.get("m") == "gate":
            self.gate = ev.get("new")
        elif kind == "consent":
            self._consent(ev)
        elif kind == "confirm" and ev.get("what") in ("consent", "provision"):
            if ev.get("state") == "waiting":
                self.pending = {"what": ev["what"], "target": ev.get("target"),
                                "deadline": time.monotonic() + float(ev.get("seconds", 0)),
                                "by": ev.get("by")}
                self.outcome = None
            elif ev.get("outcome"):
                self.pending = None
                self.outcome = {"what": ev["what"], "target": ev.get("target"),
                                "outcome": ev["outcome"], "at": time.time()}
        elif kind == "boot":
            self.muted = bool(ev.get("muted", True))
            self.pending = None
            self.streaming = None
        elif kind == "refused":
            self._refusal("board", "The board did not stream after '%s': %s"
                          % (ev.get("wake"), ev.get("why")))
        else:
            return set()
        return {"state"}

    def _on_session(self, fact):
        what, data = fact
        if what == "open":
            self.streaming = dict(data, bytes=0, since=time.time(),
                                  consent_plain=plain_consent(
                                      v.preset_of(data["flags"]), data["consent"], False))
        elif what == "audio" and self.streaming is not None:
            self.streaming["bytes"] += len(data)
        elif what == "closed":
            self.last_session = dict(data, verified=data.get("verified", True))
            self.streaming = None
        elif what in ("broken", "refused"):
            self.last_session = {"broken": data}
            self.streaming = None
        else:
            return set()
        return {"state"}

    def _on_refusal(self, data):
        self._refusal(data.get("who", "bridge"), data["text"])
        return {"state"}

    def _on_pipelines(self, data):
        self.pipelines = list(data)
        return {"state"}

    def _on_forwarding(self, data):
        # The bridge in this process decided where the open session goes (bridge.satellite).
        if self.streaming is None or self.streaming.get("session_id") != data.get("session_id"):
            return set()
        self.streaming["to"] = list(data.get("to") or [])
        return {"state"}

    def _on_timers(self, data):
        self.timers = list(data)
        return {"state"}

    def _refusal(self, who, text):
        self.refusals.insert(0, {"who": who, "text": text, "at": time.time()})
        del self.refusals[MAX_REFUSALS:]

    def _on_log(self, data):
        result = data.get("result")
        if result is None:
            self.log = {"state": "unreadable", "error": data.get("error"),
                        "words": v.link_words(data.get("error"))}
            return {"log"}
        dates = data.get("dates") or {}
        self.log = {"state": "verified" if result.ok else "broken", "error": result.error,
                    "entries": len(result.entries), "head": list(result.head),
                    "anchor": list(result.anchor) if result.anchor else None,
                    "torn_bytes": result.torn_bytes,
                    # a repair at boot set lines aside: a warning until acknowledged at the board
                    "set_aside": [[a, b] for a, b, _ in result.gaps],
                    "repair_warning": v.repair_warning(data.get("repair"))}
        self.timeline = [_entry(e, dates.get(e.hash)) for e in result.entries][-MAX_TIMELINE:]
        return {"log"}

    # -- what the page gets ------------------------------------------------------------------

    def state_json(self):
        up = self.link.get("state") == "up"
        pending = None
        if self.pending:
            left = None
            if self.pending["deadline"] is not None:
                left = max(0.0, self.pending["deadline"] - time.monotonic())
            target = self.pending["target"]
            by = self.pending.get("by")
            pending = {"what": self.pending["what"], "target": target, "seconds_left": left,
                       "gesture": legend.CONFIRM_GESTURE,
                       # who asked, as that computer named itself (the board does not check it)
                       "by": str(by)[:80] if by else None}
            if self.pending["what"] == "consent":
                pending["consent"] = plain_consent(target, _flags_of(target), target == "guest")
        link = dict(self.link, words=v.link_words(self.link.get("error"))
                    if self.link.get("error") else None)
        return {
            "id": self.id, "port": self.port, "name": self.name, "link": link,
            "where": v.port_words(self.port),
            "board": self.board, "muted": self.muted, "consent": self.consent,
            "access": self.board.get("access") if up else None,
            "access_text": v.ACCESS_HOUSEHOLD.get(self.board.get("access")) if up else None,
            "test_mode": self.board.get("test_mode") if up else None,
            "test_mode_text": v.TEST_MODE_HOUSEHOLD if up and self.board.get("test_mode")
            else None,
            "light": self.light() if up else None,
            "pending": pending, "outcome": self.outcome, "gate": self.gate,
            "streaming": self.streaming, "last_session": self.last_session,
            "refusals": self.refusals, "pipelines": self.pipelines, "timers": self.timers,
            "log": self.log, "choices": self.choices(),
        }

    def light(self):
        """The status LED as the board lights it now (its access mode, a request waiting, test
        mode, the preset), from what it reported; None while that is not known."""
        if not self.consent:
            return None
        c = self.consent
        light = v.shown_light(c["preset"], c["guest"], self.pending, self.board.get("test_mode"),
                              self.board.get("access"), self.board.get("repair_pending"))
        return dict(light, rgb=list(light["rgb"]))

    def log_json(self):
        return {"log": self.log, "timeline": self.timeline}

    @property
    def name(self):
        # Never a device path or URL: the household reads this name.
        return self.board.get("device_id") or "board %s (not given a name yet)" % self.id

    def choices(self):
        """The consent choices the page offers, each marked: applies now, or needs the board."""
        if not self.consent:
            return []
        now = v.flag_bits(self.consent["flags"])
        out = []
        for name, bits, meaning in v.PRESETS:
            out.append({"preset": name, "meaning": meaning, "current": self.consent["preset"]
                        == name and not self.consent["guest"], "widens": bool(bits & ~now)})
        out.append({"preset": "guest", "meaning": "everything off for a visitor",
                    "current": self.consent["guest"], "widens": False})
        return out


def _flags_of(target):
    for name, bits, _ in v.PRESETS:
        if name == target:
            return v.flag_names(bits)
    return []


def _entry(e, when):
    """A log entry as the page's timeline shows it. An entry whose fields are not what its kind
    has (the chain verifies any bytes) is shown as malformed, with its fields, never a failure
    that would leave the page showing an older log."""
    try:
        return _entry_item(e, when)
    except (TypeError, ValueError, KeyError, AttributeError, OverflowError):
        return {"seq": e.seq, "kind": "malformed", "t": e.t, "when": when,
                "text": "A malformed '%s' entry, not as the firmware writes it: %s" % (
                    e.kind, json.dumps(e.fields, sort_keys=True)[:200])}


def _entry_item(e, when):
    f = e.fields
    item = {"seq": e.seq, "kind": e.kind, "t": e.t, "when": when,
            "text": "%s: %s" % (e.kind, ", ".join("%s %s" % kv for kv in sorted(f.items())))}
    if e.kind == "session":
        flags = f.get("consent", 0)
        item.update(ms=f.get("ms", 0), bytes=f.get("bytes", 0), wake=f.get("wake"),
                    end=f.get("end"), consent=plain_consent(v.preset_of(flags),
                                                            v.flag_names(flags), False))
        item["text"] = "Audio left the board: %.1f s after '%s', under consent %s (%s)" % (
            item["ms"] / 1000, f.get("wake") or "?", v.preset_of(flags),
            ", ".join(w for fl, w in legend.PLAIN_FLAGS if fl in v.flag_names(flags))
            or "nothing allowed")
    elif e.kind == "mute":
        item["text"] = "Microphone %s (%s)" % ("muted" if f.get("muted") else "turned on",
                                               _source(f.get("source")))
    elif e.kind == "provision":
        item["text"] = "The board got a new identity and signing key (%s)" % f.get("device_id")
    elif e.kind == "request":
        from ..records.translog import request_text

        text = request_text(f)
        item["text"] = text[0].upper() + text[1:]
    elif e.kind == "repair":
        if "quarantined_bytes" in f:
            item["text"] = "The log was repaired at start-up: %s line(s) that did not check " \
                "out were set aside on the board; every entry that checks out was kept" % f.get(
                    "lines", "?")
        else:
            item["text"] = "The log was repaired at start-up: %s damaged bytes dropped" % f.get(
                "dropped_bytes", "?")
    elif e.kind == "repair_ack":
        item["text"] = "The log repair warning was acknowledged at the board"
    elif e.kind == "test_mode":
        item["text"] = ("TEST MODE on: recorded audio may be fed into the board" if f.get("on")
                        else "Test mode off (%s)" % f.get("why", "?"))
    elif e.kind == "open":
        flags = f.get("consent", 0)
        item["text"] = "A session started: audio after '%s' begins to leave the board, under " \
            "consent %s" % (f.get("wake") or "?", v.preset_of(flags))
    elif e.kind == "interrupted":
        item["text"] = "A session was cut off by a %s: its audio left, its end was never " \
            "written" % f.get("cause", "reset")
    elif e.kind == "boot":
        item["text"] = "The board started (%s; %s)" % (f.get("cause", "?"), f.get("access", "?"))
    elif e.kind == "unlock":
        item["text"] = "UNLOCKED at the board for an update, until its next reset"
    elif e.kind == "crash":
        item["text"] = "The firmware failed (%s) and the board restarted" % f.get("error", "?")
    elif e.kind == "consent":
        item["text"] = "Consent changed to %s%s (%s)" % (
            f.get("preset", "?"), " (guest mode)" if f.get("guest") else "",
            _source(f.get("source")))
    return item


def _source(source):
    return {"button": "by the button on the board", "host": "asked by a computer",
            "host+button": "asked by a computer, confirmed on the board",
            "restore": "restored at power-on"}.get(source, "by %s" % source)
