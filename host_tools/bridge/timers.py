"""Home Assistant's timers on this satellite (`timer-started/updated/cancelled/finished`).

Home Assistant keeps the timer; a satellite is told so it can show it and announce its end
(wyoming/timer.py; wyoming_satellite/satellite.py trigger_timer_*). The bridge shows the running
timers on the household page and, when one finishes, plays a chime on the board's speaker.
"""

import time

from wyoming.timer import TimerCancelled, TimerFinished, TimerStarted, TimerUpdated


class Timers:
    def __init__(self, show):
        self.show = show  # show(rows): the page's list of timers
        self.running = {}  # id -> {"name", "ends_at" (epoch s), "total_seconds"}

    def event(self, event):
        """Apply one timer event; the finished timer's name (or id), else None."""
        finished = None
        if TimerStarted.is_type(event.type):
            t = TimerStarted.from_event(event)
            self.running[t.id] = {"name": t.name, "total_seconds": t.total_seconds,
                                  "ends_at": time.time() + t.total_seconds}
        elif TimerUpdated.is_type(event.type):
            t = TimerUpdated.from_event(event)
            if t.id in self.running:
                self.running[t.id]["ends_at"] = time.time() + t.total_seconds
                self.running[t.id]["paused"] = not t.is_active
        elif TimerCancelled.is_type(event.type):
            self.running.pop(TimerCancelled.from_event(event).id, None)
        elif TimerFinished.is_type(event.type):
            tid = TimerFinished.from_event(event).id
            t = self.running.pop(tid, None) or {}
            finished = t.get("name") or tid
        else:
            return None
        self.show(self.rows())
        return finished

    def rows(self):
        return [{"id": k, "name": v.get("name"), "total_seconds": v["total_seconds"],
                 "ends_at": v["ends_at"], "paused": bool(v.get("paused"))}
                for k, v in sorted(self.running.items(), key=lambda kv: kv[1]["ends_at"])]
