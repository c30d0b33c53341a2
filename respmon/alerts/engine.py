"""The alert engine: one observation a second in, alert events (onset, update, clear) out.

Pure: it is driven by the per-second window dicts of the Monitor (plus the state "lost" when the
source delivers nothing), source time in seconds, and a wall clock passed in. Each condition has
its own small state machine with a delay before onset and a separate, stricter test before it
clears, so a value sitting on a threshold does not make an alert flap.
"""

from __future__ import annotations

import math
import uuid
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timezone
from types import SimpleNamespace
from typing import Callable

PRIORITIES = ("high", "medium", "low")

# condition: (kind, priority). The breathing patterns are physiological; the rest say that
# respmon cannot watch the patient right now, which an operator must tell apart from a patient event.
CONDITIONS: dict[str, tuple[str, str]] = {
    "central_apnea": ("physiological", "high"),
    "tachypnea": ("physiological", "medium"),
    "bradypnea": ("physiological", "medium"),
    "biots": ("physiological", "medium"),
    "cheyne_stokes": ("physiological", "medium"),
    "camera_lost": ("technical", "medium"),
    "nobody_in_bed": ("technical", "low"),
    "low_signal_quality": ("technical", "low"),
    # The daemon stopped without saying so (killed, crashed, power lost) and started again: the
    # patient went unwatched for a while. Raised at start, cleared once monitoring has held.
    "monitoring_restarted": ("technical", "medium"),
}
PHYSIOLOGICAL = tuple(c for c, (kind, _) in CONDITIONS.items() if kind == "physiological")
TRACKING_STATES = ("breathing", "apnea")
# Biot's breathing is clusters of breaths between apneas: its alert needs the signal stage itself
# to have timed a pause of at least this long (AASM: an apnea lasts >= 10 s)...
BIOTS_PAUSE_S = 10.0
# ...within the classifier's window: the network's word alone is not evidence enough to call a
# quietly breathing person's breathing Biot's (the false alarm the matrix and real data showed).
BIOTS_PAUSE_WITHIN_S = 60.0


def iso_utc(epoch_s: float) -> str:
    return datetime.fromtimestamp(epoch_s, timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def noisy_or(probabilities) -> float:
    """P(at least one piece of evidence is right), treating the pieces as independent."""
    miss = 1.0
    for p in probabilities:
        miss *= 1.0 - min(max(float(p), 0.0), 1.0)
    return 1.0 - miss


@dataclass
class Active:
    id: str
    condition: str
    onset_t: float
    onset_wall_s: float
    last_update_t: float
    confidence: float | None


@dataclass
class Tracker:
    """Seconds a condition has held (toward onset) or been gone (toward clearing)."""

    held_s: float = 0.0
    gone_s: float = 0.0
    evidence: deque = field(default_factory=lambda: deque(maxlen=600))  # (t, probability)


class AlertEngine:
    def __init__(self, alerts_config: SimpleNamespace, bed: str, model_version: str | None,
                 wall_clock: Callable[[], float] | None = None, new_id: Callable[[], str] | None = None,
                 first_search_s: float = 0.0):
        self.cfg = alerts_config
        self.bed = bed
        self.model_version = model_version
        self.wall_clock = wall_clock or (lambda: datetime.now(timezone.utc).timestamp())
        self.new_id = new_id or (lambda: uuid.uuid4().hex)
        self.active: dict[str, Active] = {}
        self.trackers = {condition: Tracker() for condition in CONDITIONS}
        self.last: dict = {}
        self.last_pause_t = -math.inf  # when the signal stage last timed a pause >= BIOTS_PAUSE_S
        self.pauses_were_judged = False  # since the chest was last (re)acquired
        # How long a chest search takes to find a breathing person at start (its window and two
        # retries), and whether one has been found since this engine started or the source last
        # came back.
        self.first_search_s = first_search_s
        self.tracked_since_start = False

    def reconfigure(self, alerts_config: SimpleNamespace) -> None:
        """New limits and delays apply from the next observation; active alerts stay active."""
        self.cfg = alerts_config

    def active_alerts(self) -> list[dict]:
        """The alerts active now, as their latest update would describe them."""
        return [self._event(a, "update", self.last) for a in self._by_priority()]

    def _by_priority(self) -> list[Active]:
        return sorted(self.active.values(), key=lambda a: (PRIORITIES.index(CONDITIONS[a.condition][1]), a.onset_t))

    def observe(self, obs: dict) -> list[dict]:
        """One second: obs is a Monitor window dict (t, state, rr_bpm, quality, seconds_since_breath,
        present, pattern, confidence, probs); state may also be "lost" (no frames)."""
        self.last = obs
        since = obs.get("seconds_since_breath")
        if obs.get("state") in TRACKING_STATES and since is not None and since >= BIOTS_PAUSE_S:
            self.last_pause_t = float(obs["t"])
        if obs.get("state") in TRACKING_STATES:
            self.tracked_since_start = True
        elif obs.get("state") == "lost":  # the source comes back to a search: as a start
            self.tracked_since_start = False
        if obs.get("state") not in TRACKING_STATES:
            self.pauses_were_judged = False
        elif since is not None:
            self.pauses_were_judged = True
        events: list[dict] = []
        for condition in CONDITIONS:
            verdict = getattr(self, f"_judge_{condition}")(obs)
            events += self._step(condition, obs, *verdict)
        if obs.get("state") == "absent" and "nobody_in_bed" in self.active:
            # Nobody to watch: the technical alert replaces the patient's alerts.
            for condition in PHYSIOLOGICAL:
                if condition in self.active:
                    events.append(self._clear(condition, obs, "nobody in bed"))
        return events

    # Each judge returns (holds, gone, onset_delay_s, clear_delay_s, confidence):
    # holds / gone: True, False or None (None: this second says nothing either way).

    def _judge_central_apnea(self, obs: dict):
        since = obs.get("seconds_since_breath")
        if obs.get("state") not in TRACKING_STATES or since is None:
            return None, None, 0.0, self.cfg.apnea_clear_s, 1.0
        holds = since >= self.cfg.apnea_delay_s
        # Breathing again means a measured rate (several breaths, not one gasp) and a recent breath.
        # In between, a second counts neither way: a missed breath right after an apnea, while the
        # signal stage settles, must not restart the clearing.
        gone = False if holds else (True if obs.get("state") == "breathing" and obs.get("rr_bpm") is not None
                                    and since < self.cfg.apnea_delay_s / 2 else None)
        return holds, gone, 0.0, self.cfg.apnea_clear_s, 1.0

    def _rate_judge(self, obs: dict, pattern: str, outside: Callable[[float, float], bool]):
        rate, seen = obs.get("rr_bpm"), obs.get("pattern")
        limit = self.cfg.tachypnea_above_bpm if pattern == "tachypnea" else self.cfg.bradypnea_below_bpm
        hyst = self.cfg.rate_hysteresis_bpm
        if rate is None or seen is None:
            return None, None, self.cfg.rate_validation_s, self.cfg.clear_s, None
        p = (obs.get("probs") or {}).get(pattern)
        holds = seen == pattern and outside(rate, limit)
        back_inside = not outside(rate, limit + (hyst if pattern == "bradypnea" else -hyst))
        gone = back_inside or (p is not None and p < self.cfg.pattern_min_probability)
        return holds, gone, self.cfg.rate_validation_s, self.cfg.clear_s, p

    def _judge_tachypnea(self, obs: dict):
        return self._rate_judge(obs, "tachypnea", lambda rate, limit: rate > limit)

    def _judge_bradypnea(self, obs: dict):
        return self._rate_judge(obs, "bradypnea", lambda rate, limit: rate < limit)

    def _pattern_judge(self, obs: dict, pattern: str):
        probs = obs.get("probs")
        sustain_s = getattr(self.cfg, f"{pattern}_sustain_s")
        if obs.get("state") not in TRACKING_STATES or not probs:
            return None, None, sustain_s, self.cfg.clear_s, None
        p = float(probs.get(pattern, 0.0))
        holds = obs.get("pattern") == pattern and p >= self.cfg.pattern_min_probability
        return holds, not holds, sustain_s, self.cfg.clear_s, p

    def _judge_biots(self, obs: dict):
        holds, gone, sustain_s, clear_s, p = self._pattern_judge(obs, "biots")
        if holds and float(obs["t"]) - self.last_pause_t > BIOTS_PAUSE_WITHIN_S:
            holds = False  # the network sees Biot's, the signal has no pause: not enough to alarm
        return holds, gone, sustain_s, clear_s, p

    def _judge_cheyne_stokes(self, obs: dict):
        return self._pattern_judge(obs, "cheyne_stokes")

    def _judge_camera_lost(self, obs: dict):
        lost = obs.get("state") == "lost"
        return lost, not lost, 0.0, self.cfg.technical_clear_s, None

    def _judge_nobody_in_bed(self, obs: dict):
        state = obs.get("state")
        if state in ("lost", "searching"):
            return None, None, self.cfg.absent_delay_s, self.cfg.technical_clear_s, None
        return state == "absent", obs.get("present") is True, self.cfg.absent_delay_s, self.cfg.technical_clear_s, None

    def _judge_monitoring_restarted(self, obs: dict):
        # Never raised by the per-second judges (restarted() raises it); cleared after
        # restart_notice_s of seconds that were monitored (not lost).
        return None, obs.get("state") != "lost", math.inf, self.cfg.restart_notice_s, None

    def restore(self, onsets: list[dict], t: float) -> None:
        """Alarms that were active when the last run ended (their onset messages, from the
        journal): active again with their ids and onsets, cleared the way any alarm is."""
        for onset in onsets:
            condition = onset.get("condition")
            if condition not in CONDITIONS or condition in self.active:
                continue
            onset_wall_s = datetime.fromisoformat(str(onset["onset"]).replace("Z", "+00:00")).timestamp()
            self.active[condition] = Active(str(onset["id"]), condition, float(onset["onset_t"]), onset_wall_s,
                                            t, onset.get("confidence"))

    def restarted(self, t: float, down_s: float | None, last_alive: str | None) -> list[dict]:
        """The monitoring_restarted onset (the last run did not stop cleanly), at monitor time t;
        one still active from an earlier restart is cleared first."""
        obs = {"t": t, "state": "starting",
               "reason": f"the monitor stopped without a clean stop (last alive {last_alive or 'unknown'}, "
                         f"{'for an unknown time' if down_s is None else f'{down_s:.0f} s'} unwatched)"}
        events = []
        if "monitoring_restarted" in self.active:
            events.append(self._clear("monitoring_restarted", obs, "restarted again"))
        self.active["monitoring_restarted"] = Active(self.new_id(), "monitoring_restarted", t, self.wall_clock(),
                                                     t, None)
        return events + [self._event(self.active["monitoring_restarted"], "onset", obs)]

    def _judge_low_signal_quality(self, obs: dict):
        state = obs.get("state")
        if state in ("lost", "absent"):
            return None, None, self.cfg.low_quality_delay_s, self.cfg.technical_clear_s, None
        # Irregular breathing (Biot's, Cheyne-Stokes) may have no steady rate: that is the
        # patient, not the signal, as long as the classifier sees a breathing pattern in it.
        # A signal on which no pause can be judged (seconds_since_breath null) cannot show an
        # apnea, whatever rate it gives: the monitor says so rather than watch in silence.
        unjudged = state == "breathing" and obs.get("seconds_since_breath") is None
        unusable = state in ("searching", "motion") or unjudged or (
            state == "breathing" and obs.get("rr_bpm") is None and obs.get("pattern") in (None, "noise"))
        usable = state == "apnea" or (state == "breathing" and obs.get("rr_bpm") is not None and not unjudged)
        # Pauses that were judged and no longer can be (the noise rose, mid-pause as often as
        # not): an apnea there would pass unseen, which must be said no later than the apnea alarm
        # itself would have come. A signal just acquired gets the whole delay to settle.
        delay_s = self.cfg.low_quality_delay_s
        if unjudged and self.pauses_were_judged:
            delay_s = min(delay_s, self.cfg.apnea_delay_s)
        if state == "searching" and not self.tracked_since_start:
            # Nothing breathing found in view since the start (a monitor started, or restarted,
            # beside a motionless person; an empty bed; a camera looking elsewhere: they look the
            # same). A running monitor would have raised its apnea alarm apnea_delay_s after the
            # last breath; a starting one says what it can see as soon: no breathing.
            delay_s = min(delay_s, max(self.cfg.apnea_delay_s, self.first_search_s))
        return unusable, usable, delay_s, self.cfg.technical_clear_s, None

    # The shared lifecycle.

    def _step(self, condition: str, obs: dict, holds, gone, onset_delay_s: float, clear_delay_s: float,
              p: float | None) -> list[dict]:
        tracker = self.trackers[condition]
        t = float(obs["t"])
        if p is not None and holds is not None:
            tracker.evidence.append((t, p if holds else 0.0))
        active = self.active.get(condition)
        if active is None:
            if holds:
                tracker.held_s += 1.0
            elif holds is False:
                tracker.held_s = 0.0
                tracker.evidence.clear()
            if holds and tracker.held_s >= max(onset_delay_s, 1.0) - 1e-9:
                confidence = self._confidence(condition, tracker, onset_delay_s, p)
                if confidence is not None and condition in ("biots", "cheyne_stokes") \
                        and confidence < self.cfg.pattern_alert_confidence:
                    return []
                tracker.gone_s = 0.0
                now = self.wall_clock()
                self.active[condition] = Active(self.new_id(), condition, t, now, t, confidence)
                return [self._event(self.active[condition], "onset", obs)]
            return []
        if gone:
            tracker.gone_s += 1.0
        elif gone is False:
            tracker.gone_s = 0.0
        if gone and tracker.gone_s >= clear_delay_s - 1e-9:
            return [self._clear(condition, obs, "condition ended")]
        if holds:
            active.confidence = self._confidence(condition, tracker, onset_delay_s, p)
        if t - active.last_update_t >= self.cfg.update_interval_s - 1e-9:
            active.last_update_t = t
            return [self._event(active, "update", obs)]
        return []

    def _confidence(self, condition: str, tracker: Tracker, span_s: float, p: float | None) -> float | None:
        if condition in ("biots", "cheyne_stokes"):
            # Windows a hop apart over the sustained span, newest first.
            picked, next_t = [], math.inf
            for t, prob in reversed(tracker.evidence):
                if t <= next_t - self.cfg.pattern_evidence_hop_s + 1e-9 or not picked:
                    picked.append(prob)
                    next_t = t
                if len(picked) * self.cfg.pattern_evidence_hop_s > max(span_s, self.cfg.pattern_evidence_hop_s):
                    break
            return round(noisy_or(picked), 4) if picked else None
        if condition in ("tachypnea", "bradypnea"):
            recent = [prob for _, prob in list(tracker.evidence)[-max(1, int(span_s)):]]
            return round(sum(recent) / len(recent), 4) if recent else p
        if condition == "central_apnea":
            return 1.0  # a measured absence of breaths on a signal clean enough to show them
        return None

    def _clear(self, condition: str, obs: dict, reason: str) -> dict:
        active = self.active.pop(condition)
        tracker = self.trackers[condition]
        tracker.held_s = tracker.gone_s = 0.0
        tracker.evidence.clear()
        event = self._event(active, "clear", obs)
        event["reason"] = reason
        event["duration_s"] = round(float(obs["t"]) - active.onset_t, 1)
        return event

    def _event(self, active: Active, event: str, obs: dict) -> dict:
        kind, priority = CONDITIONS[active.condition]
        return {
            "type": "alert",
            "event": event,
            "id": active.id,
            "bed": self.bed,
            "condition": active.condition,
            "pattern": active.condition if active.condition in PHYSIOLOGICAL else None,
            "kind": kind,
            "priority": priority,
            "t": obs.get("t"),
            "onset_t": active.onset_t,
            "onset": iso_utc(active.onset_wall_s),
            "confidence": active.confidence,
            "rr_bpm": obs.get("rr_bpm"),
            "evidence": {
                "state": obs.get("state"),
                "seconds_without_breathing": obs.get("seconds_since_breath"),
                "quality": obs.get("quality"),
                "probs": obs.get("probs"),
                **({"source": obs["reason"]} if obs.get("reason") else {}),
            },
            "model_version": self.model_version,
        }
