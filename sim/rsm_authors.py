"""The original authors' Respiratory Simulation Model (RSM), reproduced from their MATLAB code.

Source: github.com/yunlu1997/Respiratory-Simulation-Model (Wang et al., IEEE IoT J. 7(9), 2020).
Version "2019" is the code that wrote their Breathing_TRAIN.csv (commit dabbd8e), "2020" the
later code (commit 51f6b82). Each signal is a chain of segments

    s(t) = a*sin(b*t) + c + d*(t - t0),   t absolute seconds, t0 = segment start,

between random whole-second breakpoints, plus white Gaussian noise at 20 dB SNR (MATLAB
awgn 'measured'), then min-max scaled per row to [0, 1].

Quirks of the authors' code that are reproduced on purpose:
- Bradypnea calls ``awgn(mat(:,1), ...)`` on a 1x600 row, so only the FIRST sample gets noise;
  every other bradypnea sample is noise-free (visible in Breathing_TRAIN.csv: its class-2 rows
  are smooth).
- In the 2019 code biots and central-apnea breathing segments use c in +-0.05 (2020: +-0.4), and
  the central-apnea apnea segment c in +-0.2 (2020: +-0.4).
Not reproduced: main.m scales each row together with a leading 0 column (the label slot), so a
raw signal that is entirely positive or negative would not reach exactly 0 or 1; here every row
is scaled to exactly [0, 1]. In the authors' 600-row file every row spans exactly [0, 1].
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from respmon.patterns import PATTERNS
from respmon.sim.datasets import per_pattern_dataset

AUTHORS_VERSIONS = ("2019", "2020")

PERIOD_S = 60  # the authors' structured patterns are defined over one 60 s period
SNR_DB = 20.0
NOISE_SPIKES_PER_60_S = 10
NOISE_SPIKE_MAX = 10  # spikes are integers in [-10, 10]

Range = tuple[float, float]


@dataclass(frozen=True)
class SegmentParams:
    """Uniform ranges for a, b (rad/s), c and d of one segment kind."""

    a: Range
    b: Range
    c: Range
    d: Range


@dataclass(frozen=True)
class AuthorsRaw:
    """Unscaled signal before and after the 20 dB noise, with its layout (for tests)."""

    clean: np.ndarray
    noisy: np.ndarray
    bounds_s: tuple[int, ...] = ()  # segment boundaries, whole seconds, 0 ... duration
    apneas_s: tuple[tuple[int, int], ...] = ()  # (start, end) of each apnea segment


def _sym(x: float) -> Range:
    return (-x, x)


# Eupnea/bradypnea/tachypnea: (breakpoints per 60 s, segment ranges) per version.
_RHYTHMIC = {
    "2019": {
        "eupnea": (10, SegmentParams((0.3, 0.5), (1.27, 1.77), _sym(0.2), _sym(0.1))),
        "bradypnea": (10, SegmentParams((0.3, 0.5), (0.79, 1.15), _sym(0.05), _sym(0.1))),
        "tachypnea": (10, SegmentParams((0.2, 0.8), (2.09, 3.14), _sym(0.2), _sym(0.1))),
    },
    "2020": {
        "eupnea": (5, SegmentParams((0.3, 0.5), (1.27, 1.77), _sym(0.4), _sym(0.1))),
        "bradypnea": (5, SegmentParams((0.3, 0.5), (0.79, 1.15), _sym(0.4), _sym(0.1))),
        "tachypnea": (5, SegmentParams((0.2, 0.8), (2.09, 3.14), _sym(0.4), _sym(0.1))),
    },
}

_APNEA_B = (0.01, 3.14)
_BIOTS = {
    "2019": (
        SegmentParams((0.6, 0.9), (2.25, 3.14), _sym(0.05), _sym(0.1)),
        SegmentParams(_sym(0.05), _APNEA_B, _sym(0.2), _sym(0.01)),
    ),
    "2020": (
        SegmentParams((0.6, 0.9), (2.25, 3.14), _sym(0.4), _sym(0.1)),
        SegmentParams(_sym(0.05), _APNEA_B, _sym(0.2), _sym(0.01)),
    ),
}
_CENTRAL_APNEA = {
    "2019": (
        SegmentParams((0.3, 0.6), (1.37, 1.77), _sym(0.05), _sym(0.1)),
        SegmentParams(_sym(0.05), _APNEA_B, _sym(0.2), _sym(0.01)),
    ),
    "2020": (
        SegmentParams((0.3, 0.6), (1.37, 1.77), _sym(0.4), _sym(0.1)),
        SegmentParams(_sym(0.05), _APNEA_B, _sym(0.4), _sym(0.01)),
    ),
}
# Cheyne-Stokes is identical in both versions.
_CS_LOW = SegmentParams((0.2, 0.4), (1.37, 1.77), _sym(0.05), _sym(0.1))
_CS_HIGH = SegmentParams((0.6, 0.9), (1.37, 1.77), _sym(0.05), _sym(0.1))
_CS_APNEA = SegmentParams(_sym(0.05), _APNEA_B, _sym(0.2), _sym(0.01))
_CS_BREAKPOINT_WINDOWS_S = ((0, 4), (10, 14), (16, 20), (26, 30), (38, 40))
_CS_AMPLITUDES = (_CS_LOW, _CS_LOW, _CS_HIGH, _CS_HIGH, _CS_LOW, _CS_LOW)
_CS_APNEA_LATEST_START_S = 40

_PERIODIC_BREAKPOINTS = 5
_BIOTS_LATEST_S = 50  # breakpoints and apnea start within [0, 50] s of each period
_CENTRAL_LATEST_S = 40  # ... within [0, 40] s


def _randi(rng: np.random.Generator, low: int, high: int, size=None):
    """MATLAB randi([low high]): inclusive integers."""
    return rng.integers(low, high + 1, size=size)


def _draw(rng: np.random.Generator, p: SegmentParams) -> tuple[float, float, float, float]:
    return tuple(float(rng.uniform(*r)) for r in (p.a, p.b, p.c, p.d))  # type: ignore[return-value]


def _check_args(pattern: str, duration_s: float, rate_hz: float, version: str) -> int:
    if version not in AUTHORS_VERSIONS:
        raise ValueError(f"unknown RSM version {version!r}; choose one of {AUTHORS_VERSIONS}")
    if pattern not in PATTERNS:
        raise ValueError(f"unknown breathing pattern {pattern!r}; choose one of {PATTERNS}")
    if not rate_hz > 0:
        raise ValueError(f"rate_hz must be positive, got {rate_hz}")
    periods = duration_s / PERIOD_S
    if not (duration_s > 0 and abs(periods - round(periods)) < 1e-9):
        raise ValueError(
            f"the authors' RSM is defined for durations that are positive multiples of "
            f"{PERIOD_S} s; got duration_s={duration_s}"
        )
    return int(round(periods))


def _segment_table(
    pattern: str, rng: np.random.Generator, periods: int, version: str
) -> tuple[list[int], list[tuple[float, float, float, float]], list[tuple[int, int]]]:
    """Segment boundaries (whole seconds), (a, b, c, d) per segment, apnea segments."""
    if pattern in _RHYTHMIC[version]:
        per_60, params = _RHYTHMIC[version][pattern]
        end_s = periods * PERIOD_S
        breaks = np.sort(_randi(rng, 0, end_s, per_60 * periods)).tolist()
        bounds = [0, *breaks, end_s]
        return bounds, [_draw(rng, params) for _ in range(len(bounds) - 1)], []

    bounds: list[int] = []
    apneas: list[tuple[int, int]] = []
    coeffs: list[tuple[float, float, float, float]] = []
    for period in range(periods):
        t0 = period * PERIOD_S
        if pattern == "cheyne_stokes":
            breaks = [int(_randi(rng, t0 + lo, t0 + hi)) for lo, hi in _CS_BREAKPOINT_WINDOWS_S]
            apnea_start = int(_randi(rng, breaks[-1], t0 + _CS_APNEA_LATEST_START_S))
            kinds = [*_CS_AMPLITUDES, _CS_APNEA]
        else:
            latest = _BIOTS_LATEST_S if pattern == "biots" else _CENTRAL_LATEST_S
            breathing, apnea = (_BIOTS if pattern == "biots" else _CENTRAL_APNEA)[version]
            breaks = np.sort(_randi(rng, t0, t0 + latest, _PERIODIC_BREAKPOINTS)).tolist()
            apnea_start = int(_randi(rng, breaks[-1], t0 + latest))
            kinds = [breathing] * (_PERIODIC_BREAKPOINTS + 1) + [apnea]
        bounds += [t0, *breaks, apnea_start]
        coeffs += [_draw(rng, k) for k in kinds]
        apneas.append((apnea_start, t0 + PERIOD_S))
    bounds.append(periods * PERIOD_S)
    return bounds, coeffs, apneas


def _render(bounds: Sequence[int], coeffs, n: int, rate_hz: float) -> np.ndarray:
    """Evaluate the segment chain on t = k/rate_hz; a sample belongs to the segment it starts."""
    t = np.arange(n) / rate_hz
    edges = np.asarray(bounds, dtype=float)
    # Empty segments (equal breakpoints) contribute no samples: 'right' picks the last one
    # that starts at or before t, exactly as the authors' concatenation does.
    idx = np.searchsorted(edges[:-1], t, side="right") - 1
    a, b, c, d = (np.asarray(col)[idx] for col in zip(*coeffs))
    return a * np.sin(b * t) + c + d * (t - edges[idx])


def awgn_measured(x: np.ndarray, snr_db: float, rng: np.random.Generator) -> np.ndarray:
    """MATLAB awgn(x, snr_db, 'measured') for real x: noise power = mean(x^2) / 10^(snr/10)."""
    noise_power = np.mean(np.square(x)) / 10 ** (snr_db / 10)
    return x + np.sqrt(noise_power) * rng.standard_normal(x.shape)


def minmax(x: np.ndarray) -> np.ndarray:
    lo, hi = np.min(x), np.max(x)
    if hi == lo:
        return np.zeros_like(x, dtype=float)
    return (x - lo) / (hi - lo)


def authors_raw_signal(
    pattern: str,
    rng: np.random.Generator,
    *,
    duration_s: float = 60.0,
    rate_hz: float = 10.0,
    version: str = "2020",
) -> AuthorsRaw:
    """The authors' signal before min-max scaling: segment chain and chain + noise."""
    periods = _check_args(pattern, duration_s, rate_hz, version)
    n = int(round(duration_s * rate_hz))
    if pattern == "noise":
        clean = rng.standard_normal(n)
        spikes = int(round(NOISE_SPIKES_PER_60_S * periods))
        positions = rng.integers(0, n, size=spikes)
        clean[positions] = _randi(rng, -NOISE_SPIKE_MAX, NOISE_SPIKE_MAX, spikes)
        return AuthorsRaw(clean=clean, noisy=clean.copy())  # the noise class gets no awgn
    bounds, coeffs, apneas = _segment_table(pattern, rng, periods, version)
    clean = _render(bounds, coeffs, n, rate_hz)
    if pattern == "bradypnea":
        # Authors' bug, kept: awgn is applied to the first sample only.
        noisy = clean.copy()
        noisy[:1] = awgn_measured(clean[:1], SNR_DB, rng)
    else:
        noisy = awgn_measured(clean, SNR_DB, rng)
    return AuthorsRaw(clean, noisy, tuple(int(b) for b in bounds), tuple(apneas))


def authors_signal(
    pattern: str,
    rng: np.random.Generator,
    *,
    duration_s: float = 60.0,
    rate_hz: float = 10.0,
    version: str = "2020",
) -> np.ndarray:
    """One signal of the authors' model, float64 in [0, 1], length round(duration_s*rate_hz).

    rate_hz other than 10 samples the same model at a 1/rate_hz step (breakpoints stay whole
    seconds). duration_s must be a positive multiple of 60 s (ValueError otherwise).
    """
    raw = authors_raw_signal(pattern, rng, duration_s=duration_s, rate_hz=rate_hz, version=version)
    return minmax(raw.noisy)


def authors_dataset(
    patterns: Sequence[str],
    count: int,
    rng: np.random.Generator,
    *,
    duration_s: float = 60.0,
    rate_hz: float = 10.0,
    version: str = "2020",
) -> tuple[np.ndarray, np.ndarray]:
    """`count` signals per pattern, in pattern order: (labels int64, signals [rows, samples])."""
    for pattern in patterns:  # fail before generating anything
        _check_args(pattern, duration_s, rate_hz, version)
    return per_pattern_dataset(
        patterns, count, int(round(duration_s * rate_hz)),
        lambda pattern: authors_signal(pattern, rng, duration_s=duration_s, rate_hz=rate_hz, version=version),
    )
