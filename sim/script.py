"""The recording script: what happens in front of the camera, segment by segment.

Syntax: comma-separated `NAME[@RATE_BPM]:DURATION_S`, for example
`eupnea@14:60,central_apnea:25,eupnea:60,motion:4,absent:20`.

NAME is a breathing pattern (`eupnea`, `bradypnea`, `tachypnea`, `biots`, `cheyne_stokes`,
`central_apnea`), `hypopnea` (eupnea-rate breathing at 30-50 % of the depth before it) or an event: `motion` (the person repositions) or `absent` (empty bed).
In a script `central_apnea:D` is D seconds without breathing effort, the clinical event, so that
`eupnea:60,central_apnea:25,eupnea:60` shows one apnea of exactly 25 s.
`@RATE_BPM` fixes the breathing rate of a pattern; without it the rate is drawn from the
pattern's clinical range.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from respmon.patterns import PATTERNS

EVENTS = ("motion", "absent")
SCRIPT_PATTERNS = tuple(p for p in PATTERNS if p != "noise")
# Breathing at 30-50 % of the depth before it (AASM hypopnea: a drop of >= 30 %): not an apnea.
HYPOPNEA = "hypopnea"
SCRIPT_NAMES = SCRIPT_PATTERNS + (HYPOPNEA,) + EVENTS
# Rates a chest can plausibly produce and the pipeline is required to resolve (4–60 bpm),
# with margin for slow paced breathing.
MIN_RATE_BPM = 2.0
MAX_RATE_BPM = 60.0
MAX_SEGMENT_S = 24 * 3600.0


@dataclass(frozen=True)
class Segment:
    name: str
    duration_s: float
    rate_bpm: float | None = None

    @property
    def is_event(self) -> bool:
        return self.name in EVENTS


def segment_number(text: str, what: str, item: str) -> float:
    """A segment's number (duration, rate), finite; ValueError naming the segment."""
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"segment {item!r}: {what} {text!r} is not a number") from None
    if not math.isfinite(value):
        raise ValueError(f"segment {item!r}: {what} must be finite")
    return value


def parse_script(script: str) -> list[Segment]:
    """Parse a recording script; raises ValueError naming the bad segment."""
    if not script or not script.strip():
        raise ValueError("script is empty")
    segments = []
    for item in (part.strip() for part in script.split(",")):
        if not item:
            raise ValueError("script has an empty segment (two commas in a row?)")
        head, sep, duration_text = item.rpartition(":")
        if not sep or not head:
            raise ValueError(f"segment {item!r}: expected NAME[@RATE]:SECONDS")
        name, at, rate_text = head.partition("@")
        name = name.strip()
        if name not in SCRIPT_NAMES:
            raise ValueError(f"segment {item!r}: unknown name {name!r} (known: {', '.join(SCRIPT_NAMES)})")
        duration_s = segment_number(duration_text.strip(), "duration", item)
        if duration_s <= 0 or duration_s > MAX_SEGMENT_S:
            raise ValueError(f"segment {item!r}: duration must be > 0 and <= {MAX_SEGMENT_S:g} s")
        rate_bpm = None
        if at:
            if name in EVENTS or name == "central_apnea":
                raise ValueError(f"segment {item!r}: {name} has no breathing rate to set")
            rate_bpm = segment_number(rate_text.strip(), "rate", item)
            if not MIN_RATE_BPM <= rate_bpm <= MAX_RATE_BPM:
                raise ValueError(
                    f"segment {item!r}: rate must be {MIN_RATE_BPM:g}-{MAX_RATE_BPM:g} bpm"
                )
        segments.append(Segment(name, duration_s, rate_bpm))
    return segments
