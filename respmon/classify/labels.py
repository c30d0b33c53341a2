"""Labelled training windows from the ward station's journal (`respmon labels export`).

Each alarm an operator judged becomes one window: the 60 s at 10 Hz that the classifier saw before
the onset (the onset event's `signal`), with the label the verdict gives:

- `confirmed`: the alarm's condition, which must be a breathing pattern (central_apnea, tachypnea,
  bradypnea, biots, cheyne_stokes; any name of respmon.patterns.PATTERNS); a `pattern` the verdict
  carries as well is checked but not used.
- `false_alarm`: the pattern the operator named (`pattern`), or `eupnea` when none.
- `other_pattern`: the pattern the operator named (required).

Selection: the alarms whose onset falls in [since_wall, until_wall], oldest onset first (two
exports of adjacent spans never share a row). Alarms nobody judged are left out; so are technical
alarms (kind `technical`, or one of TECHNICAL_CONDITIONS: camera_lost, low_signal_quality,
nobody_in_bed, bed_silent, monitoring_restarted), whatever their verdict: neither is a breathing
pattern. Both are counted (LabelRows.not_judged, LabelRows.technical). So are judged alarms whose
signal is finite samples at 10 Hz but fewer than 600 (LabelRows.short): raised
before the signal held a window (under a minute after the monitor started or its signal
restarted), they have no window to learn from, and refusing the export for them would leave a
ward with no export at all.

Rules:
- Duplicates: one row per alarm (bed, alarm_id), however many times its onset was received (a bed
  that restarted, a snapshot) or judged.
- Conflicting verdicts: the latest verdict wins (the order the journal recorded them). An alarm
  whose verdicts disagree (a different verdict, or a different label) is flagged
  `"conflict": true`; `earlier_verdicts` lists the verdicts before the latest, oldest first.
- Context rows are not written: the journal keeps only the onset's 60 s, nothing before or after
  it, so every row is `"row_kind": "alarm"`.
- Refusals (LabelError, a UsageError: one line, exit 2) end the whole export on the first bad
  alarm, oldest onset first, before anything is written: an export is whole or absent. Refused: a
  verdict it does not know, a verdict naming a pattern that is not in PATTERNS (any verdict of the
  alarm, superseded ones too), `other_pattern` naming none, a confirmed alarm whose condition is
  not a pattern, a window whose signal is missing, over 600 samples, not at 10 Hz or not finite. Each line
  names the bed and the alarm.
- Night: an onset before 12:00 local time belongs to the night that began the day before (the
  local calendar date of onset_wall - 12 h, on the local clock). `night_hours`: the hours of that
  bed's vitals in the journal from the night's 12:00 to the next day's 12:00 local, 1 s rows / 3600
  + 1 min rows / 60 (Journal.vitals_rows: a minute that has 1 s rows counts those only).
- `model_version`: of the event the signal came from (the onset: the classifier that saw the
  signal; a SIGHUP may load another model later), else of the alarm's latest event.

Files (write_export): the CSV in the RSM authors' layout (respmon classify/evaluate --labels
first-column read it): one row per window, the integer label (respmon.patterns.label_of, 1..7),
then the 600 samples, as respmon simulate writes them (%.6g; a sample %.6g would change is written
exactly); a JSON Lines sidecar (same stem, `.jsonl`) with one object per CSV row, in the same
order. Each file is written whole to a temporary file beside it and renamed over the target, the
sidecar first: a half-written export never exists. Both are private to their owner (0600): they
hold patients' signals and the operators' notes.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from datetime import time as clock
from pathlib import Path

from respmon.errors import UsageError, short_text
from respmon.patterns import PATTERNS, label_of

RATE_HZ = 10.0
WINDOW_N = 600  # 60 s at 10 Hz: what the classifier sees
VERDICTS = ("confirmed", "false_alarm", "other_pattern")
TECHNICAL_CONDITIONS = frozenset({"camera_lost", "low_signal_quality", "nobody_in_bed", "bed_silent",
                                  "monitoring_restarted"})
EXPORT_LIMIT = 100_000  # alarms read at once; more: the export is refused (a shorter span)
NIGHT_TURN = clock(12, 0)  # a night runs from 12:00 local to 12:00 the next day


class LabelError(UsageError):
    """An alarm that cannot be exported; one line naming the bed and the alarm."""


@dataclass
class LabelRow:
    """One judged alarm as a labelled window."""
    bed: str
    alarm_id: str
    condition: str | None
    operator: str | None
    verdict: str
    pattern: str  # the label's name, one of PATTERNS
    note: str | None
    model_version: str | None
    onset_wall: float
    verdict_wall: float
    night: str  # ISO date
    night_hours: float
    samples: list[float]  # WINDOW_N finite samples at RATE_HZ, oldest first
    conflict: bool = False
    earlier_verdicts: list[dict] = field(default_factory=list)

    @property
    def label(self) -> int:
        """The authors' integer label, 1..7."""
        return label_of(self.pattern)

    def sidecar(self) -> dict:
        """The row's line in the JSON Lines sidecar."""
        return {"bed": self.bed, "alarm_id": self.alarm_id, "condition": self.condition,
                "operator": self.operator, "verdict": self.verdict, "label": self.pattern, "note": self.note,
                "model_version": self.model_version, "onset_wall": self.onset_wall,
                "verdict_wall": self.verdict_wall, "night": self.night, "night_hours": self.night_hours,
                "row_kind": "alarm", "conflict": self.conflict, "earlier_verdicts": self.earlier_verdicts}


class LabelRows(list):
    """export_labels' rows, with what it left out: `technical` (technical alarms, judged or not),
    `not_judged` (other alarms without a verdict) and `short` (judged alarms raised before their
    signal held a whole window: the monitor had started, or its signal restarted, under 60 s
    before)."""

    def __init__(self, rows=(), technical: int = 0, not_judged: int = 0, short: int = 0):
        super().__init__(rows)
        self.technical = technical
        self.not_judged = not_judged
        self.short = short


def export_labels(journal, since_wall: float, until_wall: float) -> LabelRows:
    """The labelled windows of the alarms with an onset in [since_wall, until_wall], oldest onset
    first; LabelError on the first alarm that cannot be exported (the module's rules)."""
    records = journal.alarms(since=since_wall, until=until_wall, limit=EXPORT_LIMIT)
    if len(records) >= EXPORT_LIMIT:
        raise LabelError(f"more than {EXPORT_LIMIT} alarms in the span: export a shorter one (--since)")
    rows = LabelRows()
    seen: set[tuple[str, str]] = set()
    hours: dict[tuple[str, str], float] = {}
    for record in records:
        key = (record.bed, record.alarm_id)
        if key in seen or not since_wall <= record.onset_wall <= until_wall:
            continue
        seen.add(key)
        if is_technical(record.condition, record.kind):
            rows.technical += 1
            continue
        if not record.verdicts:
            rows.not_judged += 1
            continue
        where = f"bed {short_text(record.bed, 64)} alarm {short_text(record.alarm_id, 64)}"
        judged = [(v, verdict_label(v, record.condition, where)) for v in record.verdicts]
        latest, pattern = judged[-1]
        event = journal.alarm_signal_event(record.bed, record.alarm_id) or {}
        samples = window_samples(event.get("signal"), where)
        if samples is None:
            rows.short += 1
            continue
        night = night_of(record.onset_wall)
        if (record.bed, night) not in hours:
            hours[(record.bed, night)] = night_hours(journal, record.bed, night)
        earlier = [{"verdict": v.get("verdict"), "label": p, "pattern": v.get("pattern"),
                    "operator": v.get("operator"), "verdict_wall": v.get("at"), "note": v.get("note")}
                   for v, p in judged[:-1]]
        model = event.get("model_version")
        if not isinstance(model, str):  # an older daemon's onset: of the alarm's latest event
            model = record.body.get("model_version")
        rows.append(LabelRow(
            bed=record.bed, alarm_id=record.alarm_id, condition=record.condition, operator=latest.get("operator"),
            verdict=latest["verdict"], pattern=pattern, note=latest.get("note"),
            model_version=model if isinstance(model, str) else None, onset_wall=record.onset_wall,
            verdict_wall=latest.get("at"), night=night, night_hours=hours[(record.bed, night)], samples=samples,
            conflict=any((e["verdict"], e["label"]) != (latest["verdict"], pattern) for e in earlier),
            earlier_verdicts=earlier))
    return rows


def is_technical(condition: str | None, kind: str | None) -> bool:
    return kind == "technical" or condition in TECHNICAL_CONDITIONS


def verdict_label(verdict: dict, condition: str | None, where: str) -> str:
    """The pattern name a verdict labels its alarm's window with (the module's rules)."""
    name, pattern = verdict.get("verdict"), verdict.get("pattern")
    if name not in VERDICTS:
        raise LabelError(f"{where}: unknown verdict {short_text(str(name), 40)!r} "
                         f"(known: {', '.join(VERDICTS)}): nothing exported")
    if pattern is not None and pattern not in PATTERNS:
        raise LabelError(f"{where}: verdict {name} names {short_text(str(pattern), 40)!r}, not a breathing "
                         f"pattern ({', '.join(PATTERNS)}): nothing exported")
    if name == "confirmed":
        if condition not in PATTERNS:
            raise LabelError(f"{where}: confirmed, but its condition {short_text(str(condition), 40)!r} is not "
                             f"a breathing pattern ({', '.join(PATTERNS)}): nothing exported")
        return condition
    if name == "other_pattern":
        if pattern is None:
            raise LabelError(f"{where}: verdict other_pattern names no pattern: nothing exported")
        return pattern
    return pattern if pattern is not None else "eupnea"


def window_samples(signal: dict | None, where: str) -> list[float] | None:
    """The samples of an onset's `signal`, checked: WINDOW_N finite numbers at RATE_HZ; None for a
    signal of fewer (an alarm raised before the signal held a whole window)."""
    if not isinstance(signal, dict):
        raise LabelError(f"{where}: the journal holds no signal for it (its onset's `signal`): nothing exported")
    rate, mm = signal.get("rate_hz"), signal.get("mm")
    if isinstance(rate, bool) or not isinstance(rate, (int, float)) or rate != RATE_HZ:
        raise LabelError(f"{where}: its signal is at {short_text(str(rate), 20)} Hz, not {RATE_HZ:g} Hz: "
                         "nothing exported")
    if isinstance(mm, list) and 0 < len(mm) < WINDOW_N and all(_finite_number(v) for v in mm):
        return None
    if not isinstance(mm, list) or len(mm) != WINDOW_N:
        count = f"{len(mm)} samples" if isinstance(mm, list) else "no samples"
        raise LabelError(f"{where}: its signal has {count}, not {WINDOW_N} (60 s at {RATE_HZ:g} Hz): "
                         "nothing exported")
    for i, value in enumerate(mm):
        if not _finite_number(value):
            raise LabelError(f"{where}: its signal's sample {i + 1} is not a finite number: nothing exported")
    return [float(v) for v in mm]


def _finite_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def night_of(wall: float) -> str:
    """The night (ISO date) of a moment: its local date, the day before when before 12:00."""
    local = datetime.fromtimestamp(wall)
    return (local - timedelta(hours=12)).date().isoformat()


def night_span(night: str) -> tuple[float, float]:
    """[start, end) of a night in epoch seconds: 12:00 local that day to 12:00 local the next."""
    day = date.fromisoformat(night)
    return (datetime.combine(day, NIGHT_TURN).timestamp(),
            datetime.combine(day + timedelta(days=1), NIGHT_TURN).timestamp())


def night_hours(journal, bed: str, night: str) -> float:
    seconds, minutes = journal.vitals_rows(bed, *night_span(night))
    return round(seconds / 3600 + minutes / 60, 6)


# -- files ---------------------------------------------------------------------------------------------------
def sidecar_path(out: Path) -> Path:
    return out.with_suffix(".jsonl")


def format_sample(value: float) -> str:
    """As respmon simulate writes a sample (%.6g), unless that would change it: then exactly."""
    text = f"{value:.6g}"
    return text if float(text) == value else repr(float(value))


def csv_text(rows: list[LabelRow]) -> str:
    return "".join(f"{row.label:d}," + ",".join(format_sample(v) for v in row.samples) + "\n" for row in rows)


def jsonl_text(rows: list[LabelRow]) -> str:
    return "".join(json.dumps(row.sidecar(), ensure_ascii=False, allow_nan=False) + "\n" for row in rows)


def write_atomically(path: Path, text: str) -> None:
    """`text` to `path` through a temporary file beside it, renamed over it once whole and synced."""
    tmp = None
    try:
        fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        tmp = Path(name)
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
        tmp = None
    except OSError as exc:
        raise UsageError(f"{path}: cannot write: {exc.strerror or exc}") from None
    finally:
        if tmp is not None:
            tmp.unlink(missing_ok=True)


def write_export(out: Path, rows: list[LabelRow]) -> Path:
    """The CSV at `out` and its sidecar (returned), each atomically, the sidecar first."""
    sidecar = sidecar_path(out)
    csv, lines = csv_text(rows), jsonl_text(rows)  # both built before either file is touched
    write_atomically(sidecar, lines)
    write_atomically(out, csv)
    return sidecar


def summary(rows: LabelRows) -> str:
    """One line: rows per label, beds, nights, what was left out."""
    per_label = Counter(row.pattern for row in rows)
    labels = ", ".join(f"{name} {per_label[name]}" for name in PATTERNS if per_label[name])
    beds = len({row.bed for row in rows})
    nights = len({row.night for row in rows})
    conflicts = sum(row.conflict for row in rows)
    return (f"{_count(len(rows), 'row')} ({labels or 'none'}) from {_count(beds, 'bed')}, "
            f"{_count(nights, 'night')}; "
            f"skipped {rows.technical} technical, {rows.not_judged} not judged, "
            f"{rows.short} raised before a whole minute of signal; "
            f"{conflicts} with conflicting verdicts")


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" + ("" if n == 1 else "s")
