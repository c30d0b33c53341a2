"""Once per second of source time: vitals out, alert engine, alerts out. The daemon (`respmon run`)
and `respmon replay` both go through this, so a replay publishes exactly what the daemon would."""

from __future__ import annotations

import logging
from types import SimpleNamespace

from respmon.alerts.engine import AlertEngine

VITALS_FIELDS = ("t", "state", "present", "rr_bpm", "quality", "seconds_since_breath", "displacement_mm",
                 "pattern", "confidence", "probs")

JOURNAL_ALIVE_S = 10  # seconds of monitor time between the journal's "still here" marks
JOURNAL_LOG_EVERY = 100  # journal failures logged: the first, then one in this many

log = logging.getLogger("respmon.alerts")


def log_alert(event: dict) -> None:
    level = logging.WARNING if event["event"] == "onset" else logging.INFO
    reason = f" ({event['reason']})" if event.get("reason") else ""
    log.log(level, "%s %s%s", event["condition"], event["event"], reason,
            extra={"bed": event["bed"], "event": f"alert.{event['event']}", "condition": event["condition"],
                   "priority": event["priority"], "id": event["id"], "t": event["t"],
                   "confidence": event["confidence"], "rr_bpm": event["rr_bpm"]})


class Bedside:
    """With a journal (the daemon's), each onset and clear is committed to it before it is
    published; a journal that fails is logged and never holds an alarm back."""

    def __init__(self, config: SimpleNamespace, model_version: str | None, publisher=None, journal=None):
        self.bed = config.bed.name
        region = getattr(config, "region", None)
        first_search_s = 0.0 if region is None else region.search_window_s + 2 * region.search_interval_s
        self.engine = AlertEngine(config.alerts, self.bed, model_version, first_search_s=first_search_s)
        self.publisher = publisher
        self.journal = journal
        self.latest: dict | None = None
        self.last_alive_t: float | None = None
        self.journal_failures = 0

    def window(self, window: dict) -> list[dict]:
        """One per-second result (a Monitor window, or a "lost" second); returns the alert events."""
        self.latest = {key: window.get(key) for key in VITALS_FIELDS}
        events = self.engine.observe(window)
        if self.publisher is not None:
            self.publisher.publish("vitals", self.latest)
        self.alerts(events, window.get("t"))
        return events

    def alerts(self, events: list[dict], t: float | None) -> None:
        """Journal (fsync'd), log and publish alert events; the snapshot follows."""
        seqs = self._journal("record", events, t) if events else None
        if not events and t is not None and (self.last_alive_t is None or t - self.last_alive_t >= JOURNAL_ALIVE_S):
            self.last_alive_t = t
            self._journal("alive", t)
        for event in events:
            log_alert(event)
        if self.publisher is not None:
            for event in events:
                self.publisher.publish("alert", event, condition=event["condition"])
            self.publisher.set_snapshot(self.engine.active_alerts(), self.latest)
        if seqs:
            self._journal("published", seqs)

    def _journal(self, method: str, *args):
        if self.journal is None:
            return None
        try:
            return getattr(self.journal, method)(*args)
        except Exception as exc:  # a full disk, a broken file: the alarm still goes out
            self.journal_failures += 1
            if self.journal_failures == 1 or self.journal_failures % JOURNAL_LOG_EVERY == 0:
                log.error("alarm journal: %s failed (%d so far): %s", method, self.journal_failures, exc,
                          extra={"bed": self.bed, "event": "journal.failed"})
            return None

    def heartbeat(self, status: dict) -> None:
        if self.publisher is not None:
            self.publisher.publish("heartbeat", {**status, "active_alerts": len(self.engine.active)})

    def close(self, t: float | None = None) -> None:
        if self.publisher is not None:
            self.publisher.close()
        self._journal("close", t)
