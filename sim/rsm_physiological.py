"""Physiological respiratory simulation: chest displacement in mm along the camera axis.

Positive = chest rising toward the camera, 0 = end-expiratory level. Every breath is an
asymmetric cycle: a smooth (half-cosine) inhalation, a passive exponential-like exhalation and an
end-expiratory pause. Patterns are built from breathing phases and pauses; optional artefacts
(baseline wander, body motion, sensor noise) are added on top.

Random numbers are drawn in a fixed order: breathing first, artefacts last, so the same seed gives
the same breathing with and without artefacts.

Every number below names its source; "chosen" marks a modelling choice, not a measured value.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from respmon.patterns import PATTERNS
from respmon.sim.datasets import per_pattern_dataset
from respmon.sim.rsm_authors import minmax

# --- breathing rates (breaths/min) -----------------------------------------------------------
# Adult resting RR 12-20/min, tachypnea > 20/min, bradypnea < 12/min: the usual clinical
# definitions (e.g. StatPearls "Physiology, Respiratory Rate" / "Tachypnea" / "Bradypnea").
# The outer bounds 4 and 40 are chosen (project brief).
RATE_RANGES_BPM: dict[str, tuple[float, float]] = {
    "eupnea": (12.0, 20.0),
    "bradypnea": (4.0, 11.0),
    "tachypnea": (21.0, 40.0),
    # Biot's: clusters of quick breaths; 20-30/min chosen (close to the authors' 21.5-30).
    "biots": (20.0, 30.0),
    # Cheyne-Stokes hyperpnoea: chosen as normal-to-fast, 12-24/min.
    "cheyne_stokes": (12.0, 24.0),
    # Central apnea: normal breathing between the pauses, so the eupnea range.
    "central_apnea": (12.0, 20.0),
}
FORCED_RATE_LIMITS_BPM = (2.0, 60.0)  # accepted range of rate_bpm (project brief)

# --- breath shape ----------------------------------------------------------------------------
# I:E (expiration incl. pause over inspiration) 1.5-2: adult resting I:E is about 1:2 (textbook
# respiratory physiology; also the usual ventilator default); 1:1.5 lower end from the brief.
IE_RATIO_RANGE = (1.5, 2.0)
# Share of the expiratory time spent in the end-expiratory pause: 0.25 at <= 12/min shrinking
# linearly to 0 at >= 30/min. Chosen: the pause is what shortens first when breathing speeds up.
PAUSE_SHARE_SLOW = 0.25
PAUSE_RATE_SLOW_BPM = 12.0
PAUSE_RATE_FAST_BPM = 30.0
# Exhalation time constant 0.4-0.7 s: chosen, same order as the textbook respiratory-system
# time constant tau = R*C (a few tenths of a second in healthy adults).
EXHALE_TAU_RANGE_S = (0.4, 0.7)
# Breath-to-breath variability, coefficient of variation of period 5-15 % and depth 10-20 %:
# chosen (project brief); resting breath-to-breath variability is of this order.
PERIOD_CV_RANGE = (0.05, 0.15)
DEPTH_CV_RANGE = (0.10, 0.20)
# Tidal chest displacement 2-12 mm peak to peak at rest: chosen (project brief); radar and
# camera vital-sign papers commonly quote chest-wall displacements of a few mm up to ~12 mm.
DEPTH_RANGE_MM = (2.0, 12.0)

# --- pauses ----------------------------------------------------------------------------------
# Apnea >= 10 s: AASM scoring manual (apnea and hypopnea events last >= 10 s).
APNEA_MIN_S = 10.0
# Central apnea pauses 10-30 s and breathing between them 15-45 s: chosen.
CENTRAL_APNEA_RANGE_S = (10.0, 30.0)
CENTRAL_BREATHING_RANGE_S = (15.0, 45.0)
# Biot's: apneas 10-30 s (project brief), clusters of 2-6 breaths of nearly equal depth
# (depth CV 3-8 %): chosen.
BIOTS_APNEA_RANGE_S = (10.0, 30.0)
BIOTS_CLUSTER_BREATHS = (2, 6)
BIOTS_DEPTH_CV_RANGE = (0.03, 0.08)
# Cheyne-Stokes: cycle (hyperpnoea + apnea/hypopnea) 40-90 s. AASM: CSB cycle length >= 40 s;
# 90 s upper bound from the brief (heart-failure CSB cycles are typically under ~90 s).
CS_CYCLE_RANGE_S = (40.0, 90.0)
CS_PAUSE_RANGE_S = (10.0, 30.0)  # apnea/hypopnea phase (project brief)
CS_HYPERPNOEA_MIN_S = 20.0  # chosen, so that a crescendo-decrescendo has several breaths
# Within one signal the cycle and pause lengths vary by 10 % (CV) from cycle to cycle: chosen
# (CSB cycle length is set by circulation time, so it is fairly steady in one patient).
CS_CYCLE_CV = 0.10
CS_PEAK_DEPTH_RANGE_MM = (8.0, 20.0)  # chosen: deeper than resting breaths at the crest
CS_DEPTH_CV = 0.05  # chosen small so the crescendo-decrescendo stays visible
# Share of Cheyne-Stokes signals whose pause is a hypopnea instead of an apnea: chosen.
CS_HYPOPNEA_PROBABILITY = 0.3
# Hypopnea breaths at 10-25 % of the crest depth: AASM hypopnea needs a >= 30 % drop.
CS_HYPOPNEA_DEPTH_SHARE = (0.10, 0.25)

# --- artefacts -------------------------------------------------------------------------------
# Baseline wander: 1-3 slow sinusoids, 0.005-0.05 Hz, total amplitude 0.5-3 mm. Chosen (brief:
# < 0.05 Hz, a few mm; posture drift and slow camera/subject movement).
WANDER_FREQ_RANGE_HZ = (0.005, 0.05)
WANDER_AMPLITUDE_RANGE_MM = (0.5, 3.0)
# Body motion: Poisson events, 0.3 per minute, smooth steps of 10-40 mm rising in 0.2-1 s, half
# of them returning after 1-5 s. Chosen (brief: large, fast, step-like, tens of mm).
MOTION_EVENTS_PER_MIN = 0.3
MOTION_AMPLITUDE_RANGE_MM = (10.0, 40.0)
MOTION_RISE_RANGE_S = (0.2, 1.0)
MOTION_HOLD_RANGE_S = (1.0, 5.0)
# Sensor noise 0.1-1 mm RMS, white: chosen (brief). A single D4xx depth pixel is noisier (the
# datasheet quotes RMS error up to ~2 % of distance); averaging a chest region brings it down.
SENSOR_NOISE_RANGE_MM = (0.1, 1.0)

# --- noise class (unusable signal) -----------------------------------------------------------
# All chosen: random walk 1-3 mm/sqrt(s), broadband noise 0.5-3 mm RMS, 5-20 single-sample
# spikes per minute of 5-30 mm (depth dropouts), 2 motion events per minute.
NOISE_WALK_RANGE_MM_PER_SQRT_S = (1.0, 3.0)
NOISE_BROADBAND_RANGE_MM = (0.5, 3.0)
NOISE_SPIKES_PER_MIN = (5, 20)
NOISE_SPIKE_RANGE_MM = (5.0, 30.0)
NOISE_MOTION_EVENTS_PER_MIN = 2.0

MIN_DURATION_S = 10.0
_MAX_LAYOUT_TRIES = 50


@dataclass
class PhysioSignal:
    displacement_mm: np.ndarray  # samples at rate_hz
    rate_hz: float
    mean_rate_bpm: float | None  # mean breathing rate during breathing phases (None for noise)
    apneas_s: list[tuple[float, float]]  # (start_s, end_s) of every pause >= 10 s


@dataclass
class PhysioComponents:
    """The additive parts of one signal; signal.displacement_mm is their sum."""

    signal: PhysioSignal
    breathing_mm: np.ndarray
    wander_mm: np.ndarray
    motion_mm: np.ndarray
    sensor_noise_mm: np.ndarray
    extra: dict[str, np.ndarray] = field(default_factory=dict)


@dataclass
class _Breaths:
    onset_s: np.ndarray
    period_s: np.ndarray
    depth_mm: np.ndarray
    counts: np.ndarray  # True where the breath belongs to a breathing phase (for mean rate)


def _empty_breaths() -> _Breaths:
    z = np.zeros(0)
    return _Breaths(z, z, z, np.zeros(0, dtype=bool))


def _concat(parts: list[_Breaths]) -> _Breaths:
    if not parts:
        return _empty_breaths()
    return _Breaths(*(np.concatenate([getattr(p, f) for p in parts]) for f in
                      ("onset_s", "period_s", "depth_mm", "counts")))


def _jitter(rng: np.random.Generator, n: int, cv: float) -> np.ndarray:
    """Multipliers with coefficient of variation cv and mean exactly 1.

    The deviations are differenced white noise (e_i - e_(i-1)) / sqrt(2): their running sum
    stays bounded, so any run of breaths inside a window keeps the drawn/forced mean rate
    (within ~1/min). The price, a chosen one: neighbouring periods are anti-correlated.
    """
    e = rng.standard_normal(n + 1)
    m = np.clip(1.0 + cv * np.diff(e) / np.sqrt(2.0), 0.6, 1.4)
    return m / m.mean() if n > 1 else np.ones(n)


def _train(
    rng: np.random.Generator,
    start_s: float,
    n: int,
    period_s: float,
    depths_mm: np.ndarray,
    period_cv: float,
    counts: bool = True,
) -> _Breaths:
    """n consecutive breaths from start_s with jittered periods and the given depths."""
    periods = period_s * _jitter(rng, n, period_cv)
    onsets = start_s + np.concatenate([[0.0], np.cumsum(periods[:-1])])
    return _Breaths(onsets, periods, depths_mm, np.full(n, counts))


def _pause_share(rate_bpm: np.ndarray) -> np.ndarray:
    x = (PAUSE_RATE_FAST_BPM - rate_bpm) / (PAUSE_RATE_FAST_BPM - PAUSE_RATE_SLOW_BPM)
    return PAUSE_SHARE_SLOW * np.clip(x, 0.0, 1.0)


def _render(
    breaths: _Breaths, t_s: np.ndarray, ie_ratio: float, tau_s: float
) -> tuple[np.ndarray, np.ndarray]:
    """Displacement at times t_s, and the end of each breath's active exhalation."""
    inhale_s = breaths.period_s / (1.0 + ie_ratio)
    expiration_s = breaths.period_s - inhale_s
    exhale_s = expiration_s * (1.0 - _pause_share(60.0 / breaths.period_s))
    effort_end_s = breaths.onset_s + inhale_s + exhale_s
    out = np.zeros_like(t_s)
    if breaths.onset_s.size == 0:
        return out, effort_end_s
    order = np.argsort(breaths.onset_s)
    onset, d, ti, te = (a[order] for a in (breaths.onset_s, breaths.depth_mm, inhale_s, exhale_s))
    idx = np.searchsorted(onset, t_s, side="right") - 1
    valid = idx >= 0
    i = idx[valid]
    u = t_s[valid] - onset[i]
    ti_i, te_i, d_i = ti[i], te[i], d[i]
    # Exhale: step response of a critically damped system, (1 + k v) exp(-k v), which leaves the
    # crest with zero slope (no kink) and then decays like an exponential; with k = 2 Te / tau
    # it is half-way down after 0.84 tau (a pure exponential: 0.69 tau). At fast rates the
    # exhale is cut short (k >= 3) and rescaled to end at 0 mm.
    k = np.maximum(2.0 * te_i / tau_s, 3.0)
    rising = u < ti_i
    falling = (~rising) & (u < ti_i + te_i)
    y = np.zeros_like(u)
    y[rising] = 0.5 * d_i[rising] * (1.0 - np.cos(np.pi * u[rising] / ti_i[rising]))
    kv = k[falling] * (u[falling] - ti_i[falling]) / te_i[falling]
    end = (1.0 + k[falling]) * np.exp(-k[falling])
    y[falling] = d_i[falling] * ((1.0 + kv) * np.exp(-kv) - end) / (1.0 - end)
    out[valid] = y
    return out, effort_end_s[np.argsort(order)]


def _pauses(
    breaths: _Breaths, effort_end_s: np.ndarray, duration_s: float
) -> list[tuple[float, float]]:
    """Intervals without breathing effort inside the window, >= APNEA_MIN_S long."""
    order = np.argsort(breaths.onset_s)
    starts = np.concatenate([[0.0], effort_end_s[order]])
    ends = np.concatenate([breaths.onset_s[order], [duration_s]])
    # a breath still exhaling past the next onset (not produced here) would give ends < starts
    out = []
    for s, e in zip(np.clip(starts, 0, duration_s), np.clip(ends, 0, duration_s)):
        if e - s >= APNEA_MIN_S - 1e-9:
            out.append((float(s), float(e)))
    return out


def _depths(rng: np.random.Generator, n: int, base_mm: float, cv: float) -> np.ndarray:
    return base_mm * np.clip(1.0 + cv * rng.standard_normal(n), 0.4, 1.6)


def _rate(rng: np.random.Generator, pattern: str, rate_bpm: float | None) -> float:
    return float(rate_bpm) if rate_bpm is not None else float(rng.uniform(*RATE_RANGES_BPM[pattern]))


def _continuous(rng, pattern, duration_s, rate_bpm, depth_mm, breath_cv=None) -> _Breaths:
    period_s = 60.0 / _rate(rng, pattern, rate_bpm)
    base = depth_mm if depth_mm is not None else rng.uniform(*DEPTH_RANGE_MM)
    n = int(np.ceil(duration_s / period_s)) + 1
    depth_cv = rng.uniform(*DEPTH_CV_RANGE) if breath_cv is None else breath_cv[1]
    depths = _depths(rng, n, base, depth_cv)
    period_cv = rng.uniform(*PERIOD_CV_RANGE) if breath_cv is None else breath_cv[0]
    return _train(rng, 0.0, n, period_s, depths, period_cv)


def _alternating(
    rng, duration_s, period_s, breaths_per_phase, pause_range_s, depth_of, period_cv, first_offset
) -> tuple[_Breaths, list[tuple[float, float]]]:
    """Breathing phases (n breaths each) alternating with pauses, from t = -first_offset.

    breaths_per_phase() -> int, depth_of(n) -> depths. Returns breaths (onset >= 0 only) and
    the planned pauses (start, end).
    """
    t = -first_offset
    parts, pauses = [], []
    while t < duration_s:
        n = breaths_per_phase()
        train = _train(rng, t, n, period_s, depth_of(n), period_cv)
        parts.append(train)
        t = float(train.onset_s[-1] + train.period_s[-1])
        pause_s = rng.uniform(*pause_range_s)
        pauses.append((t, t + pause_s))
        t += pause_s
    b = _concat(parts)
    keep = b.onset_s >= 0.0  # breaths cut by t=0 are dropped, so the window starts at 0 mm
    return _Breaths(b.onset_s[keep], b.period_s[keep], b.depth_mm[keep], b.counts[keep]), pauses


def _has_full_pause(pauses, duration_s: float) -> bool:
    return any(s >= 0.0 and e <= duration_s and e - s >= APNEA_MIN_S for s, e in pauses)


def _central_apnea(rng, duration_s, rate_bpm, depth_mm) -> _Breaths:
    period_s = 60.0 / _rate(rng, "central_apnea", rate_bpm)
    base = depth_mm if depth_mm is not None else rng.uniform(*DEPTH_RANGE_MM)
    depth_cv, period_cv = rng.uniform(*DEPTH_CV_RANGE), rng.uniform(*PERIOD_CV_RANGE)

    def phase_breaths() -> int:
        return max(1, int(round(rng.uniform(*CENTRAL_BREATHING_RANGE_S) / period_s)))

    b = None
    for _ in range(_MAX_LAYOUT_TRIES):
        first = phase_breaths()
        # start somewhere in the first breathing phase, on a breath boundary
        offset = period_s * float(rng.integers(0, first))
        sizes = [first]
        b, pauses = _alternating(
            rng, duration_s, period_s, lambda: sizes.pop() if sizes else phase_breaths(),
            CENTRAL_APNEA_RANGE_S, lambda n: _depths(rng, n, base, depth_cv), period_cv, offset,
        )
        if _has_full_pause(pauses, duration_s):
            break
    return b


def _biots(rng, duration_s, rate_bpm, depth_mm) -> _Breaths:
    period_s = 60.0 / _rate(rng, "biots", rate_bpm)
    base = depth_mm if depth_mm is not None else rng.uniform(*DEPTH_RANGE_MM)
    depth_cv, period_cv = rng.uniform(*BIOTS_DEPTH_CV_RANGE), rng.uniform(*PERIOD_CV_RANGE)
    lo, hi = BIOTS_CLUSTER_BREATHS
    b = None
    for _ in range(_MAX_LAYOUT_TRIES):
        # start anywhere in the first cluster or its following apnea (0 mm either way)
        offset = rng.uniform(0.0, hi * period_s + BIOTS_APNEA_RANGE_S[1])
        offset = period_s * np.floor(offset / period_s)
        b, pauses = _alternating(
            rng, duration_s, period_s, lambda: int(rng.integers(lo, hi + 1)),
            BIOTS_APNEA_RANGE_S, lambda n: _depths(rng, n, base, depth_cv), period_cv, offset,
        )
        if _has_full_pause(pauses, duration_s):
            break
    return b


def _cheyne_stokes(rng, duration_s, rate_bpm, depth_mm) -> _Breaths:
    period_s = 60.0 / _rate(rng, "cheyne_stokes", rate_bpm)
    peak_mm = depth_mm if depth_mm is not None else rng.uniform(*CS_PEAK_DEPTH_RANGE_MM)
    period_cv = rng.uniform(*PERIOD_CV_RANGE)
    cycle_s = rng.uniform(*CS_CYCLE_RANGE_S)
    pause_s = rng.uniform(CS_PAUSE_RANGE_S[0], min(CS_PAUSE_RANGE_S[1], cycle_s - CS_HYPERPNOEA_MIN_S))
    # with hypopneas the breathing wanes down to the hypopnea depth instead of to nothing
    floor = rng.uniform(*CS_HYPOPNEA_DEPTH_SHARE) if rng.random() < CS_HYPOPNEA_PROBABILITY else 0.0
    best = None
    for _ in range(_MAX_LAYOUT_TRIES):
        parts, pauses, crests = [], [], []
        t = -rng.uniform(0.0, cycle_s)
        while t < duration_s:
            jitter = np.clip(1.0 + CS_CYCLE_CV * rng.standard_normal(2), 0.75, 1.25)
            this_pause_s = max(CS_PAUSE_RANGE_S[0], pause_s * jitter[0])
            n = max(3, int(round((cycle_s - pause_s) * jitter[1] / period_s)))
            envelope = floor + (1.0 - floor) * np.sin(np.pi * (np.arange(n) + 0.5) / n)
            depths = peak_mm * envelope * _depths(rng, n, 1.0, CS_DEPTH_CV)
            train = _train(rng, t, n, period_s, depths, period_cv)
            parts.append(train)
            end = float(train.onset_s[-1] + train.period_s[-1])
            crests.append(0.5 * (t + end))
            if floor > 0.0:
                m = max(1, int(this_pause_s // period_s))
                depths = _depths(rng, m, peak_mm * floor, CS_DEPTH_CV)
                parts.append(_train(rng, end, m, this_pause_s / m, depths, 0.0, counts=False))
            pauses.append((end, end + this_pause_s))
            t = end + this_pause_s
        b = _concat(parts)
        keep = b.onset_s >= 0.0
        best = _Breaths(b.onset_s[keep], b.period_s[keep], b.depth_mm[keep], b.counts[keep])
        crest_inside = any(2.0 <= c <= duration_s - 2.0 for c in crests)
        pause_inside = any(min(e, duration_s) - max(s, 0.0) >= APNEA_MIN_S for s, e in pauses)
        if crest_inside and pause_inside:
            break
    return best


def _logistic(x: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * x))


def _smooth_steps(rng, t_s, n_events, forbidden, duration_s) -> np.ndarray:
    """Body-motion events; none overlaps a forbidden interval (the pauses keep their label)."""
    out = np.zeros_like(t_s)
    for _ in range(n_events):
        amp = rng.uniform(*MOTION_AMPLITUDE_RANGE_MM) * rng.choice([-1.0, 1.0])
        rise = rng.uniform(*MOTION_RISE_RANGE_S)
        hold = rng.uniform(*MOTION_HOLD_RANGE_S) if rng.random() < 0.5 else None
        for _try in range(20):
            at = rng.uniform(0.0, duration_s)
            back = at + rise + hold if hold is not None else None
            last = back + rise if back is not None else at + rise
            if not any(at - 2.0 <= e and s <= last + 2.0 for s, e in forbidden):
                break
        else:
            continue
        step = amp * _logistic((t_s - at) * 8.0 / rise)
        if back is not None:  # transient: moves back after a hold
            step -= amp * _logistic((t_s - back) * 8.0 / rise)
        out += step - step[0]
    return out


def _wander(rng, t_s) -> np.ndarray:
    k = int(rng.integers(1, 4))
    amps = rng.dirichlet(np.ones(k)) * rng.uniform(*WANDER_AMPLITUDE_RANGE_MM)
    freqs = rng.uniform(*WANDER_FREQ_RANGE_HZ, size=k)
    phases = rng.uniform(0, 2 * np.pi, size=k)
    w = np.sin(2 * np.pi * freqs[:, None] * t_s[None, :] + phases[:, None]) - np.sin(phases)[:, None]
    return amps @ w


def _noise_class(rng, t_s, duration_s, rate_hz) -> dict[str, np.ndarray]:
    n = t_s.size
    walk = np.cumsum(rng.standard_normal(n)) * rng.uniform(*NOISE_WALK_RANGE_MM_PER_SQRT_S)
    walk *= np.sqrt(1.0 / rate_hz)
    walk -= walk[0]
    broadband = rng.uniform(*NOISE_BROADBAND_RANGE_MM) * rng.standard_normal(n)
    spikes = np.zeros(n)
    n_spikes = int(rng.integers(*NOISE_SPIKES_PER_MIN, endpoint=True) * duration_s / 60.0)
    pos = rng.integers(1, n, size=n_spikes)  # sample 0 stays near 0 mm
    spikes[pos] = rng.uniform(*NOISE_SPIKE_RANGE_MM, size=n_spikes) * rng.choice([-1, 1], n_spikes)
    motion = _smooth_steps(rng, t_s, rng.poisson(NOISE_MOTION_EVENTS_PER_MIN * duration_s / 60.0),
                           [], duration_s)
    return {"random_walk_mm": walk, "broadband_mm": broadband, "spikes_mm": spikes,
            "noise_motion_mm": motion}


def _check_args(pattern, duration_s, rate_hz, rate_bpm, depth_mm) -> None:
    if pattern not in PATTERNS:
        raise ValueError(f"unknown breathing pattern {pattern!r}; choose one of {PATTERNS}")
    if not duration_s >= MIN_DURATION_S:
        raise ValueError(f"duration_s must be >= {MIN_DURATION_S} s, got {duration_s}")
    if not rate_hz > 0:
        raise ValueError(f"rate_hz must be positive, got {rate_hz}")
    if rate_bpm is not None and not FORCED_RATE_LIMITS_BPM[0] <= rate_bpm <= FORCED_RATE_LIMITS_BPM[1]:
        raise ValueError(f"rate_bpm must be within {FORCED_RATE_LIMITS_BPM}, got {rate_bpm}")
    if depth_mm is not None and not depth_mm > 0:
        raise ValueError(f"depth_mm must be positive, got {depth_mm}")


def physiological_components(
    pattern: str,
    rng: np.random.Generator,
    *,
    duration_s: float = 60.0,
    rate_hz: float = 10.0,
    rate_bpm: float | None = None,
    depth_mm: float | None = None,
    artefacts: bool = True,
    breath_cv: tuple[float, float] | None = None,
) -> PhysioComponents:
    """Like physiological_signal, but also returns each additive component.

    breath_cv: (period, depth) coefficients of variation of regular breathing (eupnea, bradypnea,
    tachypnea) instead of the drawn PERIOD_CV_RANGE / DEPTH_CV_RANGE, e.g. a resting adult's wider
    ones (sim/camera_signal.py).
    """
    _check_args(pattern, duration_s, rate_hz, rate_bpm, depth_mm)
    n = int(round(duration_s * rate_hz))
    t_s = np.arange(n) / rate_hz
    zeros = np.zeros(n)

    if pattern == "noise":
        # The unusable-signal class is made of artefacts, so artefacts=False does not apply.
        extra = _noise_class(rng, t_s, duration_s, rate_hz)
        wander = _wander(rng, t_s)
        total = wander + sum(extra.values())
        sig = PhysioSignal(total, float(rate_hz), None, [])
        return PhysioComponents(sig, zeros, wander, extra["noise_motion_mm"], extra["broadband_mm"],
                                extra)

    if pattern in ("eupnea", "bradypnea", "tachypnea"):
        breaths = _continuous(rng, pattern, duration_s, rate_bpm, depth_mm, breath_cv)
    elif pattern == "central_apnea":
        breaths = _central_apnea(rng, duration_s, rate_bpm, depth_mm)
    elif pattern == "biots":
        breaths = _biots(rng, duration_s, rate_bpm, depth_mm)
    else:
        breaths = _cheyne_stokes(rng, duration_s, rate_bpm, depth_mm)
    ie_ratio = rng.uniform(*IE_RATIO_RANGE)
    tau_s = rng.uniform(*EXHALE_TAU_RANGE_S)
    breathing, effort_end_s = _render(breaths, t_s, ie_ratio, tau_s)
    apneas = _pauses(breaths, effort_end_s, duration_s)
    in_window = (breaths.onset_s < duration_s) & breaths.counts
    mean_rate = float(60.0 / breaths.period_s[in_window].mean()) if in_window.any() else None

    if artefacts:
        wander = _wander(rng, t_s)
        motion = _smooth_steps(rng, t_s, rng.poisson(MOTION_EVENTS_PER_MIN * duration_s / 60.0),
                               apneas, duration_s)
        sensor = rng.uniform(*SENSOR_NOISE_RANGE_MM) * rng.standard_normal(n)
    else:
        wander, motion, sensor = zeros, zeros.copy(), zeros.copy()
    total = breathing + wander + motion + sensor
    sig = PhysioSignal(total, float(rate_hz), mean_rate, apneas)
    return PhysioComponents(sig, breathing, wander, motion, sensor)


def physiological_signal(
    pattern: str,
    rng: np.random.Generator,
    *,
    duration_s: float = 60.0,
    rate_hz: float = 10.0,
    rate_bpm: float | None = None,
    depth_mm: float | None = None,
    artefacts: bool = True,
) -> PhysioSignal:
    """One chest-displacement signal in mm, starting at end-expiration (0 mm).

    rate_bpm forces the rate of the breathing phases (2-60 /min); depth_mm forces the tidal
    depth (peak to peak; for cheyne_stokes the crest depth). artefacts=False gives the clean
    chest motion: no wander, no body motion, no sensor noise (the noise class is always noise).
    The layout is redrawn (up to 50 times) until the window shows the pattern's feature: a
    whole pause >= 10 s for central_apnea and biots, a crest and >= 10 s of apnea/hypopnea for
    cheyne_stokes. Windows too short for that (below ~30-40 s) keep the last draw.
    """
    return physiological_components(
        pattern, rng, duration_s=duration_s, rate_hz=rate_hz, rate_bpm=rate_bpm,
        depth_mm=depth_mm, artefacts=artefacts,
    ).signal


def physiological_dataset(
    patterns: Sequence[str],
    count: int,
    rng: np.random.Generator,
    *,
    duration_s: float = 60.0,
    rate_hz: float = 10.0,
    scaled: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """`count` signals per pattern, in pattern order: (labels int64, signals [rows, samples]).

    Signals are in mm; scaled=True min-max scales each row to [0, 1] like the authors' data.
    """
    for pattern in patterns:  # fail before generating anything
        _check_args(pattern, duration_s, rate_hz, None, None)

    def make_signal(pattern: str) -> np.ndarray:
        x = physiological_signal(pattern, rng, duration_s=duration_s, rate_hz=rate_hz).displacement_mm
        return minmax(x) if scaled else x

    return per_pattern_dataset(patterns, count, int(round(duration_s * rate_hz)), make_signal)
