"""posture_step: a repositioning too gentle for motion detection shows as a new signal level."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from respmon.signal.posture import posture_step

RATE_HZ = 10.0


def breathing(seconds: float, bpm: float, depth_mm: float, phase: float = 0.0) -> np.ndarray:
    t = np.arange(0, seconds, 1 / RATE_HZ)
    return depth_mm / 2 * np.sin(2 * np.pi * bpm / 60 * t + phase)


@settings(max_examples=60, deadline=None)
@given(bpm=st.floats(6, 40), depth=st.floats(1, 20), phase=st.floats(0, 6.3), seed=st.integers(0, 1000))
def test_steady_breathing_a_sigh_and_an_apnea_are_not_steps(bpm, depth, phase, seed):
    rng = np.random.default_rng(seed)
    x = breathing(40, bpm, depth, phase) + rng.normal(0, 0.05 * depth, 400)
    assert not posture_step(x, RATE_HZ)
    sigh = x.copy()
    sigh[-30:] += np.hanning(30) * 2 * depth  # one breath twice as deep at the end
    assert not posture_step(sigh, RATE_HZ)
    apnea = x.copy()
    apnea[-100:] = -depth / 2  # resting at end-expiration
    assert not posture_step(apnea, RATE_HZ)


@settings(max_examples=60, deadline=None)
@given(bpm=st.floats(6, 40), depth=st.floats(1, 20), sign=st.sampled_from([-1.0, 1.0]), extra=st.floats(0.5, 5))
def test_breathing_at_a_new_level_is_a_step(bpm, depth, sign, extra):
    x = breathing(40, bpm, depth)
    shift = sign * (2.0 * max(depth, 5.0) + extra + depth)  # range + margin + a breath, and some
    x[-40:] += shift
    assert posture_step(x, RATE_HZ)


def test_too_little_signal_is_never_a_step():
    assert not posture_step(np.r_[np.zeros(100), np.full(20, 50.0)], RATE_HZ)
