"""A ward of cheap simulated beds: what each patient does (a script of segments), turned into the
per-second windows a bed's Monitor writes (respmon.monitor: t, state, present, rr_bpm, quality,
seconds_since_breath, displacement_mm, pattern, confidence, probs) and the 10 Hz breathing signal
behind them, with neither depth frames nor the RSM: a sinusoid per bed.

The windows follow what the Monitor would say, so the real alert engine raises its alarms as on a
real bed: a chest is searched for a few seconds before its signal starts; a rate needs 8 s of it
and pauses are judged after 10 s; the classifier's pattern needs 60 s of signal and is the mix of
what the last 60 s held (so it lags a change, as the network's does); a pause of 10 s is the
state "apnea"; an empty bed or motion restarts the signal.

Deterministic: the same plan gives the same windows. `respmon simulate beds` publishes them
(respmon/simulate_cmd.py).

Script syntax: comma-separated `NAME[@RATE_BPM]:SECONDS`, looped, e.g.
`eupnea@14:120,central_apnea:35,tachypnea@28:100,absent:40,low_quality:50`.
"""

from __future__ import annotations

import math
import random
from collections import Counter, deque
from dataclasses import dataclass, field

from respmon.patterns import PATTERNS
from respmon.sim.script import segment_number

RATE_HZ = 10.0  # signal.rate_hz's default: the samples of an onset's signal
CLASSIFIER_WINDOW_S = 60  # respmon.signal.analyzer.CLASSIFIER_WINDOW_S
SEARCH_S = 4  # a chest (re)acquired is searched for this long before its signal starts
RATE_AFTER_S = 8  # a signal gives a rate once it holds this much (the analyzer's MIN_ANALYSIS_S)
JUDGED_AFTER_S = 10  # ...and judges pauses after this many confident seconds
APNEA_STATE_S = 10.0  # a pause this long makes the window's state "apnea" (rate.apnea_min_s)
SETTLE_S = 4  # after such a pause, seconds of breaths before a rate is measured again
BREATH_SHARE = 0.2  # a cycle under this share of the bed's depth is no breath the signal stage sees
NOISE_MM = 0.04  # sensor noise on every sample
LOW_QUALITY_MM = 1.5  # the wandering of a signal too noisy to judge
RATE_JITTER_BPM = 0.3
MAX_SEGMENT_S = 24 * 3600.0
MAX_SCRIPT_SEGMENTS = 200

# Biot's: clusters of breaths between pauses (pauses >= 10 s so that the engine's Biot's alarm
# sees one, short enough that no central apnea is called: a pause plus two breath intervals < 20 s).
BIOTS_CLUSTER_S, BIOTS_PAUSE_S = 12.0, 11.0
CHEYNE_STOKES_CYCLE_S = 45.0  # waxing and waning depth, troughs of ~13 s without a breath seen


@dataclass(frozen=True)
class Kind:
    """How a script name looks to the monitor."""

    label: str | None  # what the classifier calls it; None: nothing to classify
    rate_bpm: float | None  # default rate (None: the bed's own resting rate)
    depth: float  # breath depth, times the bed's
    state: str = "breathing"  # "motion" and "absent" are not tracked


KINDS: dict[str, Kind] = {
    "eupnea": Kind("eupnea", None, 1.0),
    "hypopnea": Kind("eupnea", None, 0.4),
    "tachypnea": Kind("tachypnea", 28.0, 0.7),
    "bradypnea": Kind("bradypnea", 8.0, 1.3),
    "biots": Kind("biots", 20.0, 1.0),
    "cheyne_stokes": Kind("cheyne_stokes", 16.0, 1.0),
    "central_apnea": Kind("central_apnea", None, 0.0),
    "low_quality": Kind("noise", None, 0.0),
    "motion": Kind(None, None, 0.0, state="motion"),
    "absent": Kind(None, None, 0.0, state="absent"),
}
WARD_NAMES = tuple(KINDS)
NO_RATE = ("central_apnea", "low_quality", "motion", "absent")

# A mix so that within a few minutes of a demo some beds show each alarm; beds start at spread
# points of it (plan_ward).
DEFAULT_SCRIPT = ("eupnea:100,central_apnea:35,eupnea:100,tachypnea:100,eupnea:80,absent:40,eupnea:100,"
                  "bradypnea:100,eupnea:80,low_quality:50,eupnea:100,cheyne_stokes:150,eupnea:80,biots:90,"
                  "eupnea:60,motion:5")


@dataclass(frozen=True)
class WardSegment:
    name: str
    duration_s: float
    rate_bpm: float | None = None


@dataclass(frozen=True)
class BedPlan:
    """One bed: its name, its script (looped), where in it the bed starts, and its own seed."""

    name: str
    segments: tuple[WardSegment, ...]
    offset_s: float = 0.0
    seed: int = 0


def parse_segment(item: str) -> WardSegment:
    """One `NAME[@RATE_BPM]:SECONDS`; ValueError naming it."""
    item = item.strip()
    head, sep, duration_text = item.rpartition(":")
    if not sep or not head:
        raise ValueError(f"segment {item!r}: expected NAME[@RATE]:SECONDS")
    name, at, rate_text = head.partition("@")
    name = name.strip()
    if name not in KINDS:
        raise ValueError(f"segment {item!r}: unknown name {name!r} (known: {', '.join(WARD_NAMES)})")
    duration_s = segment_number(duration_text.strip(), "duration", item)
    if not 1.0 <= duration_s <= MAX_SEGMENT_S:
        raise ValueError(f"segment {item!r}: duration must be 1 to {MAX_SEGMENT_S:g} s")
    rate_bpm = None
    if at:
        if name in NO_RATE:
            raise ValueError(f"segment {item!r}: {name} has no breathing rate to set")
        rate_bpm = segment_number(rate_text.strip(), "rate", item)
        if not 2.0 <= rate_bpm <= 60.0:
            raise ValueError(f"segment {item!r}: rate must be 2-60 bpm")
    return WardSegment(name, duration_s, rate_bpm)


def parse_ward_script(script: str) -> tuple[WardSegment, ...]:
    """A ward script; ValueError naming the bad segment."""
    if not script or not script.strip():
        raise ValueError("script is empty")
    items = script.split(",")
    if len(items) > MAX_SCRIPT_SEGMENTS:
        raise ValueError(f"script has {len(items)} segments, at most {MAX_SCRIPT_SEGMENTS}")
    if any(not item.strip() for item in items):
        raise ValueError("script has an empty segment (two commas in a row?)")
    return tuple(parse_segment(item) for item in items)


def bed_names(count: int, prefix: str = "bed-") -> list[str]:
    return [f"{prefix}{i}" for i in range(1, count + 1)]


def plan_ward(count: int, seed: int = 0, script: str | None = None, prefix: str = "bed-") -> list[BedPlan]:
    """Beds bed-1..bed-N on one script, each starting at its own point of it: spread evenly over
    the loop with a jitter, in an order drawn from the seed (neighbours do not follow each other
    through it), so that they do not all alarm together."""
    segments = parse_ward_script(script or DEFAULT_SCRIPT)
    loop_s = sum(s.duration_s for s in segments)
    rng = random.Random(f"ward:{seed}")
    slots = list(range(count))
    rng.shuffle(slots)
    plans = []
    for slot, name in zip(slots, bed_names(count, prefix)):
        offset_s = round(((slot + 0.5 * rng.random()) / count) * loop_s) % loop_s
        plans.append(BedPlan(name, segments, float(offset_s), rng.randrange(2**32)))
    return plans


@dataclass
class _Signal:
    """The 10 Hz signal since the chest was (re)acquired, and what the monitor has made of it."""

    samples: deque = field(default_factory=lambda: deque(maxlen=int(CLASSIFIER_WINDOW_S * RATE_HZ)))
    started_t: int | None = None  # the second the signal started (None: no chest)
    judged_from_t: int | None = None  # since when its pauses could be judged (noise ends that)
    last_breath_t: float | None = None
    resumed_t: float | None = None  # the first breath after a pause of APNEA_STATE_S
    labels: deque = field(default_factory=lambda: deque(maxlen=CLASSIFIER_WINDOW_S))
    label_counts: Counter = field(default_factory=Counter)

    def restart(self, t: int | None) -> None:
        self.samples.clear()
        self.labels.clear()
        self.label_counts.clear()
        self.started_t = self.judged_from_t = t
        self.last_breath_t = self.resumed_t = None

    def add_label(self, label: str) -> None:
        if len(self.labels) == self.labels.maxlen:
            old = self.labels[0]
            self.label_counts[old] -= 1
            if not self.label_counts[old]:
                del self.label_counts[old]
        self.labels.append(label)
        self.label_counts[label] += 1


def _peaks(phase: float) -> int:
    """Peaks of sin() up to `phase` (at pi/2 + 2 pi k): a breath each."""
    return math.floor((phase - math.pi / 2) / (2 * math.pi))


class SimulatedBed:
    """One bed's per-second windows: `step()` gives the next one (t = 1, 2, ...)."""

    def __init__(self, plan: BedPlan):
        if not plan.segments:
            raise ValueError(f"{plan.name}: no segments")
        self.plan = plan
        self.rng = random.Random(f"bed:{plan.seed}:{plan.name}")
        self.depth_mm = self.rng.uniform(3.0, 6.0)
        self.resting_bpm = self.rng.uniform(12.5, 17.5)
        self.top_probability = self.rng.uniform(0.8, 0.92)  # the classifier's word for what it sees
        self.loop_s = sum(s.duration_s for s in plan.segments)
        self.script_s = plan.offset_s % self.loop_s  # where in the loop the next second starts
        self.forced: list[tuple[WardSegment, float]] = []  # (segment, seconds played)
        self.t = 0
        self.phase = self.rng.uniform(0.0, 2 * math.pi)
        self.wander_mm = 0.0
        self.signal = _Signal()
        self.search_until_t: int | None = None
        self.segment: WardSegment = plan.segments[0]
        self.segment_s = 0.0  # seconds into the current segment

    @property
    def name(self) -> str:
        return self.plan.name

    def force(self, segment: WardSegment) -> int:
        """Play `segment` from the next second on (the script waits and then goes on where it
        was); returns the second it starts at."""
        self.forced = [(segment, 0.0)]
        return self.t + 1

    def step(self) -> dict:
        self.t += 1
        self.segment, self.segment_s = self._advance()
        kind = KINDS[self.segment.name]
        if kind.label is None:
            return self._untracked(kind.state)
        if self.signal.started_t is None:
            if self.search_until_t is None:
                self.search_until_t = self.t + SEARCH_S - 1
            if self.t <= self.search_until_t:
                self._breathe(kind, record=False)
                return self._window("searching", None)
            self.search_until_t = None
            self.signal.restart(self.t - 1)
        self._breathe(kind, record=True)
        self.signal.add_label(kind.label)
        return self._tracked(kind)

    def _advance(self) -> tuple[WardSegment, float]:
        """The segment playing in this second and how far into it the second starts."""
        if self.forced:
            segment, played_s = self.forced[0]
            if played_s < segment.duration_s:
                self.forced[0] = (segment, played_s + 1.0)
                return segment, played_s
            self.forced.clear()
        position = self.script_s
        self.script_s = (self.script_s + 1.0) % self.loop_s
        for segment in self.plan.segments:
            if position < segment.duration_s:
                return segment, position
            position -= segment.duration_s
        return self.plan.segments[-1], self.plan.segments[-1].duration_s - 1.0  # rounding at the loop's end

    def _rate_bpm(self, kind: Kind) -> float:
        return self.segment.rate_bpm or kind.rate_bpm or self.resting_bpm

    def _depth(self, kind: Kind, at_s: float) -> float:
        """Breath depth (mm) at `at_s` seconds into the segment."""
        if self.segment.name == "biots":
            return self.depth_mm if at_s % (BIOTS_CLUSTER_S + BIOTS_PAUSE_S) < BIOTS_CLUSTER_S else 0.0
        if self.segment.name == "cheyne_stokes":
            return self.depth_mm * (0.5 - 0.5 * math.cos(2 * math.pi * at_s / CHEYNE_STOKES_CYCLE_S))
        return self.depth_mm * kind.depth

    def _breathe(self, kind: Kind, record: bool) -> None:
        """The second's 10 samples; breaths timed where the signal stage would see them."""
        step = 2 * math.pi * self._rate_bpm(kind) / 60.0 / RATE_HZ
        low_quality = self.segment.name == "low_quality"
        for k in range(1, int(RATE_HZ) + 1):
            at_t = self.t - 1 + k / RATE_HZ
            depth = self._depth(kind, self.segment_s + k / RATE_HZ)
            before = self.phase
            self.phase += step
            peaked = _peaks(self.phase) > _peaks(before)
            if low_quality:
                self.wander_mm = 0.9 * self.wander_mm + self.rng.gauss(0.0, LOW_QUALITY_MM)
                value = self.wander_mm
            else:
                self.wander_mm = 0.0
                value = depth * math.sin(self.phase) + self.rng.gauss(0.0, NOISE_MM)
            if not record:
                continue
            self.signal.samples.append(value)
            if peaked and not low_quality and depth >= BREATH_SHARE * self.depth_mm:
                self._breath(at_t)
        if record and low_quality:  # nothing judged through the noise, nor for a while after it
            self.signal.judged_from_t = self.t
            self.signal.last_breath_t = None

    def _breath(self, at_t: float) -> None:
        last = self.signal.last_breath_t
        if last is not None and at_t - last >= APNEA_STATE_S:
            self.signal.resumed_t = at_t
        self.signal.last_breath_t = at_t

    def _since(self) -> float | None:
        s = self.signal
        if s.judged_from_t is None or self.t - s.judged_from_t < JUDGED_AFTER_S or s.last_breath_t is None:
            return None
        return round(self.t - s.last_breath_t, 1)

    def _tracked(self, kind: Kind) -> dict:
        s = self.signal
        since = self._since()
        state = "apnea" if since is not None and since >= APNEA_STATE_S else "breathing"
        window = self._window(state, True)
        settled = s.resumed_t is None or self.t - s.resumed_t >= SETTLE_S
        has_rate = (self.segment.name not in ("biots", *NO_RATE) and state == "breathing" and settled
                    and s.judged_from_t is not None and self.t - s.judged_from_t >= RATE_AFTER_S)
        if has_rate:
            window["rr_bpm"] = round(self._rate_bpm(kind) + self.rng.gauss(0.0, RATE_JITTER_BPM), 2)
        window["quality"] = round(self.rng.uniform(0.15, 0.3) if self.segment.name == "low_quality"
                                  else self.rng.uniform(0.8, 0.95), 3)
        window["seconds_since_breath"] = since
        window["displacement_mm"] = round(s.samples[-1], 3)
        if len(s.samples) >= s.samples.maxlen:
            window.update(self._pattern())
        return window

    def _pattern(self) -> dict:
        """The classifier's call on the last 60 s: what they held, mixed by seconds."""
        counts = self.signal.label_counts
        total = sum(counts.values())
        rest = (1.0 - self.top_probability) / (len(PATTERNS) - 1)
        probs = {p: sum(n * (self.top_probability if p == label else rest) for label, n in counts.items()) / total
                 for p in PATTERNS}
        pattern = max(probs, key=probs.get)
        return {"pattern": pattern, "confidence": round(probs[pattern], 4),
                "probs": {p: round(v, 4) for p, v in probs.items()}}

    def _untracked(self, state: str) -> dict:
        self.signal.restart(None)
        self.search_until_t = None
        return self._window(state, state == "motion")

    def _window(self, state: str, present: bool | None) -> dict:
        return {"type": "window", "t": self.t, "state": state, "present": present, "rr_bpm": None,
                "quality": 0.0, "seconds_since_breath": None, "displacement_mm": None,
                "pattern": None, "confidence": None, "probs": None}

    def recent_signal_mm(self, seconds: float = CLASSIFIER_WINDOW_S) -> dict | None:
        """The last `seconds` of the signal, as Monitor.recent_signal_mm gives it."""
        samples = self.signal.samples
        if not samples:
            return None
        wanted = int(round(seconds * RATE_HZ))
        recent = list(samples)[-wanted:]
        return {"rate_hz": RATE_HZ, "end_t": float(self.t), "mm": [round(v, 2) for v in recent]}


def windows(plan: BedPlan, seconds: int) -> list[dict]:
    """The first `seconds` windows of a bed."""
    bed = SimulatedBed(plan)
    return [bed.step() for _ in range(seconds)]
