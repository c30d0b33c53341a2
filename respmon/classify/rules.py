"""Rule-based baseline classifier: breathing pattern from the measured rate and pauses, no learning.

Every window is z-scored first, so the units (mm, belt units, min-max [0, 1]) do not matter.
The features come from the rate stage (respmon.signal.rate):

- rate_bpm / quality: estimate_rate over the whole window;
- breaths: hysteresis crossings (rsp_peaks) of the band-passed window with the level h from
  breath_threshold, i.e. tied to the window's own breathing amplitude (and never under the
  noise margin). Pauses: stretches with no swing through the +-h band (breathing makes two
  swings per breath), the window's flat start and end included. The authors' RSM apneas are
  low-amplitude sinusoids plus noise at a random offset, not zeros; the level makes them pauses
  all the same, wherever they rest;
- breathing between the pauses: median onset interval (run_rate_bpm), its CV, and the
  autocorrelation at that interval outside the pauses (periodicity; reported, not used);
- amplitude envelope: the peak-to-trough amplitude of each breath; its coefficient of
  variation, a taper score (how much smaller the breaths next to a pause are than the window's
  largest ones, 1 - mean(adjacent) / 90th percentile) and a hump score (the same with the
  window's first and last breaths added), which tell Cheyne-Stokes waning/waxing from an
  abrupt stop;
- spikes: single-sample outliers (depth dropouts), a mark of an unusable signal.

Decision (each threshold names its source; "chosen" marks a modelling choice):

1. fewer than 3 breaths (no rate can be measured), or >= 4 single-sample spikes: noise;
2. a pause >= 10 s (AASM apnea) that is also >= 1.8 breath intervals long (so slow
   bradypnea's rests between breaths do not count):
   - the breaths next to the pauses (taper), or those and the window's first and last breaths
     (hump), > 35 % smaller than the largest: cheyne_stokes (crescendo-decrescendo);
   - otherwise breathing between the pauses faster than 20/min: biots (clusters of quick
     breaths; 20/min = the tachypnea bound);
   - otherwise central_apnea;
3. no pause: by rate, < 12/min bradypnea, > 20/min tachypnea, else eupnea (usual adult
   resting-rate definitions, e.g. StatPearls); no rate at all: noise.

Known limits: a large body-motion step inflates the window's spread, hence the hysteresis level,
so small breaths beside it can vanish into a "pause"; the authors' RSM central-apnea and
Cheyne-Stokes signals differ only by the breathing segments' amplitude ranges, which overlap
after their noise, so those two are often confused.
"""

from __future__ import annotations

import numpy as np
from scipy.ndimage import median_filter

from respmon.patterns import PATTERNS, TACHYPNEA_ABOVE_BPM, pattern_for_rate
from respmon.signal.rate import (
    MIN_BREATHS_FOR_RATE,
    OUTLIER_INTERVAL_RATIO,
    band_noise_sigma,
    breath_threshold,
    estimate_rate,
    noise_sigma,
    rsp_clean,
    rsp_peaks,
    rsp_spectrum_peak,
)

# Apnea: cessation of breathing for >= 10 s (AASM scoring manual).
APNEA_MIN_S = 10.0
# Biot's breathing: clusters of quick breaths; "quick" = above the tachypnea bound (chosen).
BIOTS_ABOVE_BPM = TACHYPNEA_ABOVE_BPM
# A pause must also be clearly longer than the breathing cycle: slow bradypnea (4-5/min) rests
# ~10 s between breaths without being an apnea. 1.8 = respmon.signal.rate.OUTLIER_INTERVAL_RATIO.
PAUSE_INTERVAL_RATIO = OUTLIER_INTERVAL_RATIO
# Fewer than 3 breaths: no rate can be measured (respmon.signal.rate.MIN_BREATHS_FOR_RATE).
MIN_BREATHS = MIN_BREATHS_FOR_RATE
# Noise: 4 or more single-sample spikes in the window (chosen; depth dropouts, the RSM noise
# class's integer spikes). Breathing windows, even with body motion, show 0-1.
NOISE_MIN_SPIKES = 4
# Cheyne-Stokes: the breaths next to the pauses are > 35 % smaller than the largest (taper), or,
# counting the window's first and last breaths too, > 35 % smaller (hump). Chosen on simulated
# tuning seeds (not the evaluation seeds of bench/eval_rules.py): AASM CSB is defined by
# a crescendo-decrescendo shape, with no amplitude number.
CS_TAPER_MIN = 0.35
CS_HUMP_MIN = 0.35
SPIKE_NOISE_SIGMAS = 6.0  # chosen: a Gaussian sample beyond 6 sigma is ~1 in 500 million
SPIKE_SPREAD_SHARE = 0.15  # chosen


def _zscore(window: np.ndarray) -> np.ndarray:
    x = np.asarray(window, dtype=float).ravel()
    sd = float(np.std(x))
    return (x - float(np.mean(x))) / sd if sd > 0 else np.zeros_like(x)


def _swing_events(clean: np.ndarray, h: float) -> np.ndarray:
    """Sample indices where the signal swings through the hysteresis band: above +h coming from
    below -h (or from the start), or below -h coming from above +h (or from the start).

    Breathing makes two such events per breath; a pause is a long stretch without any, wherever
    the signal rests (at the trough, at mid-level, or above it, as the authors' apnea segments
    with their random offset can).
    """
    upper, lower = clean > h, clean < -h
    events, state, i, n = [], 0, 0, len(clean)
    while i < n:
        target = lower if state > 0 else upper if state < 0 else (upper | lower)
        nxt = int(np.argmax(target[i:]))
        if not target[i + nxt]:
            break
        i += nxt
        events.append(i)
        state = 1 if upper[i] else -1
    return np.asarray(events, dtype=int)


def _spike_count(x: np.ndarray, rate_hz: float) -> int:
    """Single-sample outliers: samples far from the median of their 5 neighbours.

    "Far" is SPIKE_NOISE_SIGMAS sensor-noise sigmas and SPIKE_SPREAD_SHARE of the window's
    5-95 % spread, so that neither a noise-free window (sigma ~ 0) nor ordinary sensor noise counts.
    Depth dropouts and the RSM noise class have them; breathing, even with body motion, does not.
    """
    if len(x) < 5:
        return 0
    residual = x - median_filter(x, size=5, mode="nearest")
    sigma = noise_sigma(x, rate_hz)
    spread = float(np.percentile(x, 95) - np.percentile(x, 5))
    level = max(SPIKE_NOISE_SIGMAS * sigma, SPIKE_SPREAD_SHARE * spread)
    return int(np.count_nonzero(np.abs(residual) > level)) if level > 0 else 0


def rule_features(window, rate_hz: float = 10.0) -> dict:
    """Explainable features of one window (any units); see the module docstring."""
    x = _zscore(window)
    n = len(x)
    duration_s = n / rate_hz
    est = estimate_rate(x, rate_hz)
    sigma = band_noise_sigma(noise_sigma(x, rate_hz), rate_hz)
    clean = rsp_clean(x, rate_hz)
    h = breath_threshold(clean, sigma)
    b = rsp_peaks(clean, rate_hz, h)
    spectral = rsp_spectrum_peak(clean, rate_hz)

    # Pauses: stretches without a swing event, the window's start and end included.
    edges = np.concatenate([[0], _swing_events(clean, h), [n - 1]]) / rate_hz
    pauses_s = [(s, e) for s, e in zip(edges[:-1], edges[1:]) if e - s >= APNEA_MIN_S]
    lengths = np.diff(edges)
    longest = float(lengths.max()) if len(lengths) else duration_s

    def in_pause(t: float) -> bool:
        return any(s <= t <= e for s, e in pauses_s)

    # Breathing rate between pauses: onset intervals that do not span a pause.
    gaps = np.diff(b.onset_s)
    spans = np.array([any(b.onset_s[k] < 0.5 * (s + e) < b.onset_s[k + 1] for s, e in pauses_s)
                      for k in range(len(gaps))], dtype=bool)
    run_gaps = gaps[~spans] if len(gaps) else gaps
    run_rate = float(60.0 / np.median(run_gaps)) if len(run_gaps) else None
    run_cv = float(np.std(run_gaps) / np.mean(run_gaps)) if len(run_gaps) >= 2 else None
    # Periodicity of the breathing outside the pauses: autocorrelation at the median interval.
    periodicity = 0.0
    if len(run_gaps):
        lag = int(round(float(np.median(run_gaps)) * rate_hz))
        t = np.arange(n) / rate_hz
        breathing = ~np.any([(t >= s) & (t <= e) for s, e in pauses_s], axis=0) if pauses_s else np.ones(n, bool)
        if 0 < lag < n - 1:
            both = breathing[:-lag] & breathing[lag:]
            a, c = clean[:-lag][both], clean[lag:][both]
            denom = np.sqrt(np.dot(a, a) * np.dot(c, c))
            periodicity = float(np.dot(a, c) / denom) if both.sum() > lag and denom > 0 else 0.0

    amps = b.amplitude
    amp_cv = float(np.std(amps) / np.mean(amps)) if len(amps) >= 2 and np.mean(amps) > 0 else 0.0
    # Taper: the breaths just before and just after each pause vs the window's largest breaths.
    taper = None
    if len(amps) >= 3 and pauses_s:
        big = float(np.percentile(amps, 90))
        adjacent = []
        for s, e in pauses_s:
            before = np.flatnonzero(b.peak_s <= s)
            after = np.flatnonzero(b.peak_s >= e)
            if before.size:
                adjacent.append(amps[before[-1]])
            if after.size:
                adjacent.append(amps[after[0]])
        if adjacent and big > 0:
            taper = float(1.0 - np.mean(adjacent) / big)
    # Hump: the same with the window's first and last breaths too (a crescendo-decrescendo
    # seen whole starts and ends small).
    hump = None
    if taper is not None:
        ends = [amps[0], amps[-1]]
        hump = float(1.0 - np.mean(adjacent + ends) / big)
    return {
        "spikes": _spike_count(x, rate_hz),
        "rate_bpm": est.rate_bpm,
        "quality": est.quality,
        "n_breaths": len(b),
        "run_rate_bpm": run_rate,
        "run_interval_cv": run_cv,
        "periodicity": periodicity,
        "longest_pause_s": longest,
        "n_pauses": len(pauses_s),
        "pause_share": float(sum(e - s for s, e in pauses_s) / duration_s),
        "amplitude_cv": amp_cv,
        "taper": taper,
        "hump": hump,
        "median_run_interval_s": float(np.median(run_gaps)) if len(run_gaps) else None,
        "concentration": spectral.concentration,
        "prominence": spectral.prominence,
        "snr": float(np.median(amps) / sigma) if len(amps) and sigma > 0 else 0.0,
    }


def rule_classify(window, rate_hz: float = 10.0) -> str:
    """One of PATTERNS for one window (any units)."""
    return _decide(rule_features(window, rate_hz))


def _decide(f: dict) -> str:
    if f["n_breaths"] < MIN_BREATHS or f["spikes"] >= NOISE_MIN_SPIKES:
        return "noise"
    interval = f["median_run_interval_s"] or 0.0
    if f["longest_pause_s"] >= max(APNEA_MIN_S, PAUSE_INTERVAL_RATIO * interval):
        taper, hump = f["taper"], f["hump"]
        if taper is not None and (taper > CS_TAPER_MIN or hump > CS_HUMP_MIN):
            return "cheyne_stokes"
        if f["run_rate_bpm"] is not None and f["run_rate_bpm"] > BIOTS_ABOVE_BPM:
            return "biots"
        return "central_apnea"
    rate = f["rate_bpm"] if f["rate_bpm"] is not None else f["run_rate_bpm"]
    return "noise" if rate is None else pattern_for_rate(rate)


def rule_classify_batch(windows: np.ndarray, rate_hz: float = 10.0) -> np.ndarray:
    """Class indices 0..6 (index in PATTERNS = authors' label - 1), one per row of windows."""
    w = np.asarray(windows, dtype=float)
    if w.ndim == 1:
        w = w[None, :]
    return np.array([PATTERNS.index(rule_classify(row, rate_hz)) for row in w], dtype=np.int64)
