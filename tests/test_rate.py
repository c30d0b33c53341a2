from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from respmon.signal import rate as rsp
from sim.rsm_physiological import physiological_signal

FS = 10.0


def _sine(bpm: float, seconds: float = 30.0, amplitude: float = 3.0, noise: float = 0.0, seed: int = 0):
    t = np.arange(int(seconds * FS)) / FS
    rng = np.random.default_rng(seed)
    return amplitude * np.sin(2 * np.pi * bpm / 60 * t + rng.uniform(0, 6.28)) + rng.normal(0, noise, len(t))


@settings(max_examples=60, deadline=None, derandomize=True)
@given(st.floats(8.0, 60.0), st.integers(0, 1000))
def test_sinusoid_rate_within_1_bpm(bpm, seed):
    estimate = rsp.estimate_rate(_sine(bpm, noise=0.3, seed=seed), FS)
    assert estimate.rate_bpm == pytest.approx(bpm, abs=1.0)
    assert estimate.quality >= 0.6


@settings(max_examples=30, deadline=None, derandomize=True)
@given(st.floats(4.0, 8.0), st.integers(0, 1000))
def test_slow_breathing_in_a_long_window(bpm, seed):
    estimate = rsp.estimate_rate(_sine(bpm, seconds=60.0, noise=0.3, seed=seed), FS)
    assert estimate.rate_bpm == pytest.approx(bpm, abs=1.0)


@pytest.mark.parametrize("bpm", [6, 10, 15, 20, 30, 40])
def test_physiological_breathing_rate(bpm):
    rng = np.random.default_rng(bpm)
    errors = []
    for _ in range(8):
        signal = physiological_signal("eupnea", rng, duration_s=60.0, rate_hz=FS, rate_bpm=bpm, artefacts=False)
        x = signal.displacement_mm + rng.normal(0, 0.2, len(signal.displacement_mm))
        estimate = rsp.estimate_rate(x, FS)
        assert estimate.rate_bpm is not None
        errors.append(estimate.rate_bpm - signal.mean_rate_bpm)
    assert np.median(np.abs(errors)) < 0.7
    assert np.max(np.abs(errors)) < 1.5


@settings(max_examples=40, deadline=None, derandomize=True)
@given(st.integers(0, 10_000), st.floats(0.1, 10.0))
def test_white_noise_never_gets_a_confident_rate(seed, sigma):
    x = np.random.default_rng(seed).normal(0, sigma, 300)
    estimate = rsp.estimate_rate(x, FS)
    assert estimate.rate_bpm is None or estimate.quality < 0.5


def test_quality_falls_with_noise():
    qualities = [rsp.estimate_rate(_sine(15, noise=n, seed=1), FS).quality for n in (0.1, 1.0, 3.0, 10.0)]
    assert qualities[0] > 0.8
    assert all(later <= earlier + 0.05 for earlier, later in zip(qualities, qualities[1:]))
    assert qualities[-1] < 0.5


def test_flat_signal_has_no_breaths_even_with_noise_and_a_reference():
    x = np.random.default_rng(3).normal(0, 0.1, 300)
    estimate = rsp.estimate_rate(x, FS, reference_amplitude=6.0)
    assert len(estimate.breaths) == 0
    assert estimate.rate_bpm is None


def test_asymmetric_breath_with_pause_counts_once():
    # Quick inhalation, slow exhalation, long end-expiratory pause: one breath per cycle.
    t = np.arange(600) / FS
    phase = (t * 8 / 60) % 1.0
    x = np.where(phase < 0.25, np.sin(np.pi * phase / 0.25 / 2), np.exp(-(phase - 0.25) * 12))
    estimate = rsp.estimate_rate(5 * x, FS)
    assert len(estimate.breaths) in (7, 8)
    assert estimate.rate_bpm == pytest.approx(8, abs=0.3)


def test_pause_inside_the_window_is_not_a_slow_rate():
    x = np.concatenate([_sine(20, seconds=15), np.zeros(150)]) + np.random.default_rng(0).normal(0, 0.05, 300)
    estimate = rsp.estimate_rate(x, FS)
    assert estimate.rate_bpm == pytest.approx(20, abs=1.5)
    assert estimate.breaths.peak_s[-1] < 16


def test_noise_sigma_measures_white_noise_not_breathing():
    rng = np.random.default_rng(0)
    assert rsp.noise_sigma(rng.normal(0, 2.0, 3000), FS) == pytest.approx(2.0, rel=0.1)
    assert rsp.noise_sigma(_sine(15, amplitude=5.0) + rng.normal(0, 0.5, 300), FS) == pytest.approx(0.5, rel=0.25)


def test_rsp_clean_passes_60_bpm_and_removes_drift():
    x = _sine(60, amplitude=2.0) + np.linspace(0, 50, 300)
    clean = rsp.rsp_clean(x, FS)
    # NeuroKit2's default cleaning would all but remove 60 bpm; here it keeps about 3/4 of it.
    assert 0.7 * 4.0 <= np.ptp(clean[50:-50]) <= 4.2


def _uneven_breaths(bpm: float, depth_cv: float, seed: int, seconds: float = 30.0, noise: float = 0.3):
    """Raised-cosine breaths of varying period (10 %) and depth (depth_cv), plus white noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * FS)) / FS
    x = np.zeros(len(t))
    start = rng.uniform(-3.0, 0.0)
    while start < seconds:
        period = 60.0 / bpm * rng.lognormal(0.0, 0.1)
        depth = max(0.2, rng.normal(1.0, depth_cv))
        inside = (t >= start) & (t < start + period)
        x[inside] = depth * (0.5 - 0.5 * np.cos(2 * np.pi * (t[inside] - start) / period))
        start += period
    return x + rng.normal(0.0, noise, len(t))


@pytest.mark.parametrize("peak_bpm, breath_bpm, merged", [
    (32.5, 10.8, True), (30.0, 15.2, True), (40.0, 10.0, True),  # every 3rd, 2nd, 4th breath counted
    (15.0, 15.0, False),  # the same breathing
    (60.0, 8.0, False),  # a slow breather's heartbeat: k = 7.5 is no merge
    (40.0, 17.5, False),  # 2.3: not a whole number of breaths
    (50.0, 10.0, False),  # k = 5: beyond a hysteresis level a few times too high
])
def test_breaths_merged(peak_bpm, breath_bpm, merged):
    assert rsp.breaths_merged(breath_bpm, peak_bpm) is merged


def test_fast_shallow_breathing_is_not_counted_at_a_fraction_of_its_rate():
    # A reference learnt three times too deep (from a misread window) sets the hysteresis level so
    # high that only the deepest of uneven breaths (resting depth CV 33 %, Tobin 1988) clear it.
    # Counted so, 28-40 /min read as 1/2-1/4 of it in 4 of these 80 windows before breaths_merged (1 now);
    # the spectrum's peak is the breathing. Seeds 7000-7019 were not used to build it.
    fractions = [rsp.estimate_rate(_uneven_breaths(bpm, 0.33, seed), FS, 3.0, 30.0).rate_bpm
                 for seed in range(7000, 7020) for bpm in (28.0, 32.0, 36.0, 40.0)]
    merged = [r for r in fractions if r is not None and r < 0.6 * 28.0]
    assert len(merged) <= 1
