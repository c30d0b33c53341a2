"""bench/pause_tradeoff.py: its signals and its d' must be what it says they are, or the figures it
prints for the pause judgement (README, issue 10's notes) mean nothing."""

from __future__ import annotations

import numpy as np
import pytest

from bench_modules import load_bench

bench = load_bench("pause_tradeoff")
det = load_bench("apnea_detectability")


@pytest.mark.parametrize("sigma_mm", [0.4, 1.0])
def test_its_dprime_is_apnea_detectability_s_on_its_own_signals(sigma_mm):
    # The figure it labels its noise levels with is the matrix's measure, measured on its signals.
    rate_hz, n_breathing = bench.RATE_HZ, int(bench.BREATHING_S * bench.RATE_HZ)
    estimates = []
    for seed in range(9100, 9112):
        x = bench.breathing_then(0.0, sigma_mm, seed)
        d = det.apnea_detectability(x, rate_hz, 60.0 / bench.INTERVAL_S, slice(n_breathing - 300, n_breathing),
                                    slice(n_breathing, len(x)), decision_s=bench.DECISION_S)
        estimates.append(d.dprime_ideal)
    # 10 % breath-to-breath variation spreads the breaths' power a little past the effort band
    assert 0.8 * bench.dprime_hypopnea(sigma_mm) < np.mean(estimates) < 1.2 * bench.dprime_hypopnea(sigma_mm)


def test_the_signal_breathes_then_does_what_it_is_told():
    x = bench.breathing_then(0.35, 0.0, 9200)
    n = int(bench.BREATHING_S * bench.RATE_HZ)
    before, after = np.ptp(x[n - 100:n]), np.ptp(x[n + 100:n + 200])
    assert before == pytest.approx(bench.DEPTH_MM, rel=0.02)
    assert after == pytest.approx(0.35 * bench.DEPTH_MM, rel=0.02)
    assert not np.any(bench.breathing_then(0.0, 0.0, 9201)[n:])
