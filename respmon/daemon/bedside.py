"""Once per second of source time: vitals out, alert engine, alerts out. The daemon (`respmon run`)
and `respmon replay` both go through this, so a replay publishes exactly what the daemon would."""

from __future__ import annotations

import logging
from types import SimpleNamespace

from respmon.alerts.engine import AlertEngine

VITALS_FIELDS = ("t", "state", "present", "rr_bpm", "quality", "seconds_since_breath", "displacement_mm",
                 "pattern", "confidence", "probs")

log = logging.getLogger("respmon.alerts")


def log_alert(event: dict) -> None:
    level = logging.WARNING if event["event"] == "onset" else logging.INFO
    reason = f" ({event['reason']})" if event.get("reason") else ""
    log.log(level, "%s %s%s", event["condition"], event["event"], reason,
            extra={"bed": event["bed"], "event": f"alert.{event['event']}", "condition": event["condition"],
                   "priority": event["priority"], "id": event["id"], "t": event["t"],
                   "confidence": event["confidence"], "rr_bpm": event["rr_bpm"]})


class Bedside:
    def __init__(self, config: SimpleNamespace, model_version: str | None, publisher=None):
        self.bed = config.bed.name
        self.engine = AlertEngine(config.alerts, self.bed, model_version)
        self.publisher = publisher
        self.latest: dict | None = None

    def window(self, window: dict) -> list[dict]:
        """One per-second result (a Monitor window, or a "lost" second); returns the alert events."""
        self.latest = {key: window.get(key) for key in VITALS_FIELDS}
        events = self.engine.observe(window)
        for event in events:
            log_alert(event)
        if self.publisher is not None:
            self.publisher.publish("vitals", self.latest)
            for event in events:
                self.publisher.publish("alert", event, condition=event["condition"])
            self.publisher.set_snapshot(self.engine.active_alerts(), self.latest)
        return events

    def heartbeat(self, status: dict) -> None:
        if self.publisher is not None:
            self.publisher.publish("heartbeat", {**status, "active_alerts": len(self.engine.active)})

    def close(self) -> None:
        if self.publisher is not None:
            self.publisher.close()

