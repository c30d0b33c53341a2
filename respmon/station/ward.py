"""The ward as the station sees it: each bed's link, latest vitals and 15-minute trend, and every
alarm on display with its acknowledgement and verdict. Pure: checked messages (docs/messages.md)
and operator actions in, typed changes out (what the browsers are sent). No I/O, no clock of its
own: every call is given `now` (wall clock, epoch seconds).

Alarm display after IEC 60601-1-8: an alarm shows while its condition is on; a high-priority alarm
(also medium with `latch: high_medium`) latches: once its condition clears it stays shown until
someone acknowledges it. Acknowledging pauses the audio for `audio_pause_s` and keeps the visual.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import asdict, dataclass, field
from datetime import datetime

from respmon.patterns import PATTERNS

PRIORITY_RANK = {"high": 0, "medium": 1, "low": 2}
TREND_S = 15 * 60
TREND_STEP_S = 10
VERDICTS = ("confirmed", "false_alarm", "other_pattern")
STALE_VITALS_S = 10.0  # a rate older than this is no current rate: the tile shows none
BED_SILENT = "bed_silent"
MAX_ENDED = 10_000
MAX_RATE_BPM = 200.0
MAX_VERSION = 128  # a model version longer than this is no version (it would go to every page every second)


@dataclass
class Verdict:
    verdict: str
    pattern: str | None
    note: str
    operator: str
    at: float


@dataclass
class Alarm:
    id: str
    bed: str
    condition: str
    kind: str
    priority: str
    onset: float
    source: str = "bed"  # "station": raised by the station itself (bed_silent)
    cleared: float | None = None
    rr_bpm: float | None = None
    confidence: float | None = None
    model_version: str | None = None
    acknowledged_by: str | None = None
    acknowledged_at: float | None = None
    silenced_until: float | None = None
    verdict: Verdict | None = None
    sent: float | None = None  # when the bed sent the last event of it (its envelope's time)

    @property
    def active(self) -> bool:
        return self.cleared is None

    def view(self, latches: bool) -> dict:
        view = asdict(self)
        view["active"] = self.active
        view["latched"] = bool(latches and not self.active and self.acknowledged_at is None)
        return view


@dataclass
class Bed:
    name: str
    link: str = "connecting"  # "up", "silent", "connecting"
    link_reason: str | None = None
    state: str | None = None
    rr_bpm: float | None = None
    quality: float | None = None
    last_vitals: float | None = None
    model_version: str | None = None
    trend: deque = field(default_factory=lambda: deque(maxlen=TREND_S // TREND_STEP_S + 1))
    # the 10 s bucket being filled: (bucket start, sum of rates, count)
    bucket: tuple[float, float, int] | None = None


@dataclass(frozen=True)
class Change:
    """What the browsers are told: "bed" (a BedView), "alarm" (an AlarmView) or "alarm_removed"."""
    event: str
    data: dict


def _epoch(iso: str) -> float | None:
    try:
        return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()
    except (ValueError, TypeError, OverflowError):
        return None


def _finite(value) -> float | None:
    return float(value) if isinstance(value, (int, float)) and math.isfinite(value) else None


def _rate(value) -> float | None:
    """A breathing rate a bed could have measured; anything else (1e308 from a broken or hostile
    bed: summed into the trend it made infinity) is no rate."""
    rate = _finite(value)
    return rate if rate is not None and 0.0 <= rate <= MAX_RATE_BPM else None


class Ward:
    def __init__(self, beds: list[str], latch: str = "high", audio_pause_s: float = 120.0):
        self.beds: dict[str, Bed] = {name: Bed(name) for name in beds}
        self.alarms: dict[tuple[str, str], Alarm] = {}
        # alarms that ended here: a late update or a stale snapshot must not bring one back
        self.ended: dict[tuple[str, str], None] = {}
        self.latch = latch
        self.audio_pause_s = audio_pause_s

    # -- configuration -------------------------------------------------------------------------------------
    def set_beds(self, names: list[str]) -> list[Change]:
        """The beds of a reloaded config: new ones added, removed ones dropped with their alarms."""
        changes = []
        for name in names:
            if name not in self.beds:
                self.beds[name] = Bed(name)
                changes.append(Change("bed", self.bed_view(name, None)))
        for name in [n for n in self.beds if n not in names]:
            del self.beds[name]
            for key in [k for k in self.alarms if k[0] == name]:
                del self.alarms[key]
                changes.append(Change("alarm_removed", {"bed": name, "id": key[1]}))
            changes.append(Change("bed_removed", {"name": name}))
        return changes

    def unacknowledged(self, beds: list[str]) -> list[Alarm]:
        """The alarms of these beds that no operator has acknowledged and that are still on the
        page: on, or latched after they ended."""
        return [a for (bed, _), a in self.alarms.items()
                if bed in beds and a.acknowledged_at is None and (a.active or self.latches(a))]

    def latches(self, alarm: Alarm) -> bool:
        return alarm.priority == "high" and self.latch != "none" or (
            alarm.priority == "medium" and self.latch == "high_medium")

    # -- views ---------------------------------------------------------------------------------------------
    def alarm_view(self, alarm: Alarm) -> dict:
        return alarm.view(self.latches(alarm))

    def shown(self, alarm: Alarm) -> bool:
        return alarm.active or self.alarm_view(alarm)["latched"]

    def sorted_alarms(self, bed: str | None = None) -> list[Alarm]:
        alarms = [a for a in self.alarms.values() if (bed is None or a.bed == bed) and self.shown(a)]
        return sorted(alarms, key=lambda a: (PRIORITY_RANK.get(a.priority, 3), a.onset, a.bed, a.id))

    def bed_view(self, name: str, now: float | None) -> dict:
        bed = self.beds[name]
        top = self.sorted_alarms(name)
        fresh = bed.last_vitals is not None and (now is None or now - bed.last_vitals <= STALE_VITALS_S)
        return {
            "name": name, "link": bed.link, "link_reason": bed.link_reason,
            "state": bed.state if fresh else None, "rr_bpm": bed.rr_bpm if fresh else None,
            "quality": bed.quality if fresh else None, "last_vitals": bed.last_vitals,
            "trend": [list(p) for p in bed.trend], "model_version": bed.model_version,
            "alarm": self.alarm_view(top[0]) if top else None,
        }

    def ward_view(self, now: float) -> dict:
        return {"beds": [self.bed_view(name, now) for name in self.beds],
                "alarms": [self.alarm_view(a) for a in self.sorted_alarms()]}

    def _alarm_changed(self, alarm: Alarm, now: float) -> list[Change]:
        bed = Change("bed", self.bed_view(alarm.bed, now))
        if self.shown(alarm):
            return [Change("alarm", self.alarm_view(alarm)), bed]
        self.alarms.pop((alarm.bed, alarm.id), None)
        self.ended[(alarm.bed, alarm.id)] = None
        if len(self.ended) > MAX_ENDED:
            del self.ended[next(iter(self.ended))]
        return [Change("alarm_removed", {"bed": alarm.bed, "id": alarm.id}), bed]

    # -- from the beds -------------------------------------------------------------------------------------
    def alert(self, msg: dict, now: float) -> list[Change]:
        """A checked alert message (or a snapshot's alert) from its bed."""
        bed = msg["bed"]
        if bed not in self.beds:
            return []
        key = (bed, msg["id"])
        alarm = self.alarms.get(key)
        if alarm is None and key in self.ended:
            return []
        if msg["event"] == "clear":
            if alarm is None or not alarm.active:
                return []
            alarm.cleared = alarm.sent = _finite(msg.get("time")) or now
            return self._alarm_changed(alarm, now)
        if alarm is None:
            onset = _epoch(msg["onset"]) or _finite(msg.get("time")) or now
            alarm = Alarm(id=msg["id"], bed=bed, condition=msg["condition"], kind=msg["kind"],
                          priority=msg["priority"], onset=onset)
            self.alarms[key] = alarm
        elif not alarm.active:
            return []  # an update that crossed its own clear: cleared stays cleared
        alarm.sent = _finite(msg.get("time"))
        alarm.rr_bpm = _rate(msg.get("rr_bpm"))
        alarm.confidence = _finite(msg.get("confidence"))
        alarm.model_version = msg.get("model_version")
        return self._alarm_changed(alarm, now)

    def snapshot(self, snap: dict, now: float) -> list[Change]:
        """A bed's snapshot: its active alerts are the truth. An alarm shown here as active that
        the bed no longer has cleared while the station was not listening."""
        bed = snap["bed"]
        if bed not in self.beds:
            return []
        changes: list[Change] = []
        alerts = [a for a in snap["alerts"] if a["bed"] == bed]  # a bed speaks for itself only
        live = {a["id"] for a in alerts}
        for alarm in [a for a in self.alarms.values() if a.bed == bed and a.source == "bed" and a.active]:
            if alarm.id not in live:
                alarm.cleared = _finite(snap.get("time")) or now
                changes += self._alarm_changed(alarm, now)
        for alert in alerts:
            changes += self.alert({**alert, "event": "onset" if (bed, alert["id"]) not in self.alarms else "update",
                                   "time": snap.get("time")}, now)
        if isinstance(snap.get("vitals"), dict):
            changes += self.vitals({**snap["vitals"], "bed": bed, "time": snap.get("time")}, now, trend=False)
        return changes

    def vitals(self, msg: dict, now: float, trend: bool = True) -> list[Change]:
        bed = self.beds.get(msg["bed"])
        if bed is None:
            return []
        # When the station heard it, not the bed's clock: a bed whose clock runs slow must not look
        # stale, nor one whose clock runs ahead look current when it is not.
        bed.state = msg.get("state") if isinstance(msg.get("state"), str) else None
        bed.rr_bpm = _rate(msg.get("rr_bpm"))
        bed.quality = _finite(msg.get("quality"))
        bed.last_vitals = now
        if trend:
            self._trend(bed, now, bed.rr_bpm)
        return [Change("bed", self.bed_view(bed.name, now))]

    def _trend(self, bed: Bed, t: float, rr_bpm: float | None) -> None:
        start = math.floor(t / TREND_STEP_S) * TREND_STEP_S
        if bed.bucket is not None and bed.bucket[0] != start:
            b_start, total, n = bed.bucket
            bed.trend.append((b_start, round(total / n, 1) if n else None))
            bed.bucket = None
        if bed.bucket is None:
            bed.bucket = (start, 0.0, 0)
        if rr_bpm is not None:
            b_start, total, n = bed.bucket
            bed.bucket = (b_start, total + rr_bpm, n + 1)

    def heartbeat(self, msg: dict, now: float) -> list[Change]:
        bed = self.beds.get(msg["bed"])
        if bed is None:
            return []
        version = msg.get("model_version")
        if isinstance(version, str) and len(version) <= MAX_VERSION:
            bed.model_version = version
        return self.link(bed.name, "up", None, now) if bed.link != "up" else []

    def link(self, name: str, link: str, reason: str | None, now: float) -> list[Change]:
        """The station's view of its connection to a bed: "up", or "silent" (heartbeats stopped:
        the bed's alarms cannot reach the station, which raises its own technical alarm)."""
        bed = self.beds.get(name)
        if bed is None or (bed.link == link and bed.link_reason == reason):
            return []
        bed.link, bed.link_reason = link, reason
        changes: list[Change] = []
        silent = [a for a in self.alarms.values() if a.bed == name and a.condition == BED_SILENT and a.active]
        if link == "silent" and not silent:
            alarm = Alarm(id=f"station-{name}-{int(now * 1000)}", bed=name, condition=BED_SILENT,
                          kind="technical", priority="medium", onset=now, source="station")
            self.alarms[(name, alarm.id)] = alarm
            changes += self._alarm_changed(alarm, now)
        elif link == "up":
            for alarm in silent:  # restored ones too (a station restarted while the bed was silent)
                alarm.cleared = now
                changes += self._alarm_changed(alarm, now)
        return changes + [Change("bed", self.bed_view(name, now))]

    # -- from the operators --------------------------------------------------------------------------------
    def find(self, bed: str, alarm_id: str) -> Alarm | None:
        return self.alarms.get((bed, alarm_id))

    def acknowledge(self, bed: str, alarm_id: str, operator: str, now: float) -> list[Change]:
        alarm = self.alarms[(bed, alarm_id)]
        alarm.acknowledged_by, alarm.acknowledged_at = operator, now
        alarm.silenced_until = now + self.audio_pause_s
        return self._alarm_changed(alarm, now)

    def record_verdict(self, bed: str, alarm_id: str, verdict: Verdict, now: float) -> list[Change]:
        alarm = self.alarms.get((bed, alarm_id))
        if alarm is None:
            return []
        alarm.verdict = verdict
        return self._alarm_changed(alarm, now)

    def restore(self, alarm: Alarm) -> None:
        """An alarm from the station's journal (after a restart), shown until the bed's snapshot
        says otherwise."""
        if alarm.bed in self.beds:
            self.alarms[(alarm.bed, alarm.id)] = alarm


def check_verdict(body: object) -> tuple[str, str | None, str]:
    """A verdict request's body: (verdict, pattern, note); ValueError naming what is wrong."""
    if not isinstance(body, dict):
        raise ValueError("the body must be a JSON object")
    unknown = set(body) - {"verdict", "pattern", "note"}
    if unknown:
        raise ValueError(f"unknown field {sorted(unknown)[0][:40]!r}")
    verdict, pattern, note = body.get("verdict"), body.get("pattern"), body.get("note", "")
    if verdict not in VERDICTS:
        raise ValueError(f"verdict must be one of {', '.join(VERDICTS)}")
    if verdict == "other_pattern":
        if pattern not in PATTERNS:
            raise ValueError(f"pattern must be one of {', '.join(PATTERNS)}")
    elif pattern is not None:
        raise ValueError("pattern is given only with other_pattern")
    if not isinstance(note, str) or len(note) > 1000 or not all(c.isprintable() or c in "\n\t" for c in note):
        raise ValueError("note must be text of at most 1000 characters")
    return verdict, pattern, note
