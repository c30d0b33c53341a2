"""Once per second of source time: vitals out, alert engine, alerts out. The daemon (`respmon run`)
and `respmon replay` both go through this, so a replay publishes exactly what the daemon would."""

from __future__ import annotations

import logging
import time
from types import SimpleNamespace
from typing import Callable

from respmon.alerts.engine import AlertEngine

VITALS_FIELDS = ("t", "state", "present", "rr_bpm", "quality", "seconds_since_breath", "displacement_mm",
                 "pattern", "confidence", "probs")

JOURNAL_ALIVE_S = 10  # seconds of monitor time between the journal's "still here" marks
# An alert handed to the publisher is on its way, not gone: ZeroMQ's I/O thread sends it moments
# later, and a kill -9 in between loses it. The journal marks it sent this long after (wall
# clock); killed before that, the next start sends it again (at worst twice, never not at all).
SENT_AFTER_S = 1.0
# At a start the alerts wait this long before they go out (the snapshot has them at once): a
# subscriber that lost the last run reconnects every 100-200 ms (ZeroMQ's reconnect interval and
# its jitter), and the PUB socket sends nothing to one that has not (re)subscribed yet; the
# monitoring_restarted onset and the events re-sent from the last run went out to nobody.
START_HOLD_S = 1.0
JOURNAL_LOG_EVERY = 100  # journal failures logged: the first, then one in this many

log = logging.getLogger("respmon.alerts")

# What an onset carries as its `signal`: the last 60 s of breathing signal the classifier saw
# ({"rate_hz", "end_t", "mm"}, Monitor.recent_signal_mm), or None where the source has none.
SignalProvider = Callable[[], "dict | None"]


def log_alert(event: dict) -> None:
    level = logging.WARNING if event["event"] == "onset" else logging.INFO
    reason = f" ({event['reason']})" if event.get("reason") else ""
    log.log(level, "%s %s%s", event["condition"], event["event"], reason,
            extra={"bed": event["bed"], "event": f"alert.{event['event']}", "condition": event["condition"],
                   "priority": event["priority"], "id": event["id"], "t": event["t"],
                   "confidence": event["confidence"], "rr_bpm": event["rr_bpm"]})


class Bedside:
    """With a journal (the daemon's), each onset and clear is committed to it before it is
    published; a journal that fails is logged and never holds an alarm back. At a start
    (`hold`) alert events are journaled and in the snapshot at once, published START_HOLD_S later.

    Each onset carries `signal` (from the provider given here or to `window`; None without one);
    an active alarm keeps its onset's signal in the snapshot until it clears. The journal keeps
    events without it (respmon.alerts.journal): an alarm restored at a start has none."""

    def __init__(self, config: SimpleNamespace, model_version: str | None, publisher=None, journal=None,
                 signal: SignalProvider | None = None):
        self.bed = config.bed.name
        region = getattr(config, "region", None)
        first_search_s = 0.0 if region is None else region.search_window_s + 2 * region.search_interval_s
        self.engine = AlertEngine(config.alerts, self.bed, model_version, first_search_s=first_search_s)
        self.publisher = publisher
        self.journal = journal
        self.signal = signal
        self.signals: dict[str, dict | None] = {}  # alarm id: its onset's signal, while active
        self.latest: dict | None = None
        self.last_alive_t: float | None = None
        self.journal_failures = 0
        self.journal_dirty = False  # a write failed: the journal's active alarms may be wrong
        self.sending: list[tuple[float, list[int]]] = []  # (when handed over, journal numbers)
        # Alert events journaled and in the snapshot, not yet published (hold_until, monotonic)
        self.held: list[dict] = []
        self.held_seqs: list[int] = []
        self.hold_until: float | None = None

    def window(self, window: dict, signal: SignalProvider | None = None) -> list[dict]:
        """One per-second result (a Monitor window, or a "lost" second); returns the alert events.
        `signal` (else the one given at construction) gives an onset its signal."""
        self.latest = {key: window.get(key) for key in VITALS_FIELDS}
        events = self.engine.observe(window)
        if self.publisher is not None:
            self.publisher.publish("vitals", self.latest)
        self.alerts(events, window.get("t"), signal)
        return events

    def alerts(self, events: list[dict], t: float | None, signal: SignalProvider | None = None) -> None:
        """Journal (fsync'd), log and publish alert events; the snapshot follows."""
        self._attach_signals(events, signal or self.signal)
        seqs = self._journal("record", events, t) if events else None
        if not events and t is not None and (self.last_alive_t is None or t - self.last_alive_t >= JOURNAL_ALIVE_S):
            self.last_alive_t = t
            self._journal("alive", t)
        if self.journal_dirty and (events or t is not None):
            # Writes failed (a full disk): once one works again, the journal's active alarms are
            # made the engine's, or a restart would restore a cleared one or miss a raised one.
            self.journal_dirty = not self._journal("replace_active", self.engine.active_alerts())
        for event in events:
            log_alert(event)
        self.held += events
        self.held_seqs += seqs or []
        if self.publisher is not None:
            self.publisher.set_snapshot(self.active_alerts(), self.latest)
        self.release()

    def _attach_signals(self, events: list[dict], provider: SignalProvider | None) -> None:
        """Onsets get the signal (asked for once, and only when there is an onset); a clear lets
        its alarm's go."""
        onsets = [e for e in events if e["event"] == "onset"]
        signal = provider() if onsets and provider is not None else None
        for event in onsets:
            event["signal"] = signal
            self.signals[event["id"]] = signal
        for event in events:
            if event["event"] == "clear":
                self.signals.pop(event["id"], None)

    def active_alerts(self) -> list[dict]:
        """The engine's active alerts, each with its onset's signal (None for one restored)."""
        alerts = self.engine.active_alerts()
        self.signals = {a["id"]: self.signals[a["id"]] for a in alerts if a["id"] in self.signals}
        return [{**alert, "signal": self.signals.get(alert["id"])} for alert in alerts]

    def hold(self, seconds: float, events: list[dict] = (), seqs: list[int] = ()) -> None:
        """Hold alert events back for `seconds` (a start); `events` (journaled already, journal
        numbers `seqs`) go out first when they do."""
        self.hold_until = time.monotonic() + seconds
        # Sent again from the journal, which keeps no signal: an onset says it has none.
        events = [{**e, "signal": None} if e.get("event") == "onset" and "signal" not in e else e for e in events]
        self.held = list(events) + self.held
        self.held_seqs = list(seqs) + self.held_seqs

    def release(self, force: bool = False) -> None:
        """Publish the alert events held, in order, unless they are still held back."""
        if not force and self.hold_until is not None and time.monotonic() < self.hold_until:
            return
        self.hold_until = None
        events, seqs = self.held, self.held_seqs
        self.held, self.held_seqs = [], []
        if self.publisher is not None and events:
            for event in events:
                self.publisher.publish("alert", event, condition=event["condition"])
            self.publisher.set_snapshot(self.active_alerts(), self.latest)
        self.sent(seqs)

    def sent(self, seqs: list[int], everything: bool = False) -> None:
        """Journal events just handed to the publisher: marked sent in the journal SENT_AFTER_S
        later (checked at each call), or now for `everything` (the publisher has closed)."""
        if self.journal is None:
            return
        now = time.monotonic()
        if seqs:
            self.sending.append((now, seqs))
        due = [s for at, batch in self.sending if everything or now - at >= SENT_AFTER_S for s in batch]
        if due:
            self.sending = [] if everything else [(at, b) for at, b in self.sending if now - at < SENT_AFTER_S]
            self._journal("published", due)

    def _journal(self, method: str, *args):
        if self.journal is None:
            return None
        try:
            return getattr(self.journal, method)(*args)
        except Exception as exc:  # a full disk, a broken file: the alarm still goes out
            self.journal_failures += 1
            self.journal_dirty = True
            if self.journal_failures == 1 or self.journal_failures % JOURNAL_LOG_EVERY == 0:
                log.error("alarm journal: %s failed (%d so far): %s", method, self.journal_failures, exc,
                          extra={"bed": self.bed, "event": "journal.failed"})
            return None

    def heartbeat(self, status: dict) -> None:
        if self.publisher is not None:
            self.publisher.publish("heartbeat", {**status, "active_alerts": len(self.engine.active),
                                                 "model_version": self.engine.model_version})

    def close(self, t: float | None = None, clean: bool = True) -> None:
        self.release(force=True)
        if self.publisher is not None:
            self.publisher.close()  # sends what it holds (its linger) before it returns
        self.sent([], everything=True)
        self._journal("close", t, clean)
