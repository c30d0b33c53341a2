"""The pause judgement on its own: arrays in, PauseJudgement out."""

from __future__ import annotations

import numpy as np

from respmon.signal import rate as rsp
from respmon.signal.pauses import NOT_JUDGED, judge_pause

RATE_HZ = 10.0


def _judge(x, reference_amplitude=10.0, typical_interval_s=4.0, apnea_min_s=10.0):
    return judge_pause(x, RATE_HZ, reference_amplitude, typical_interval_s, apnea_min_s)


def _breathing_then_flat(flat_s, seed=0):
    rng = np.random.default_rng(seed)
    t = np.arange(0, 60.0, 1 / RATE_HZ)
    x = 5.0 * np.sin(2 * np.pi * 0.25 * t)
    x[t >= 60.0 - flat_s] = 0.0
    return x + rng.normal(0, 0.05, len(t))


def test_regular_breathing_is_breathing():
    judgement = _judge(_breathing_then_flat(0.0))
    assert judgement.breathing is True
    assert judgement.seconds_since_breath < 4.0


def test_a_long_flat_stretch_is_a_pause():
    judgement = _judge(_breathing_then_flat(25.0))
    assert judgement.breathing is False
    assert 25.0 <= judgement.seconds_since_breath <= 30.0  # from the last breath's peak


def test_no_reference_amplitude_judges_nothing():
    x = _breathing_then_flat(25.0)
    assert judge_pause(x, RATE_HZ, None, None, 10.0) == NOT_JUDGED


def test_noise_above_the_breath_threshold_judges_nothing():
    x = np.random.default_rng(1).normal(0, 3.0, 600)
    assert _judge(x, reference_amplitude=1.0) == NOT_JUDGED
