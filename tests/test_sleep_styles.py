"""sim/sleep_styles.py: REM-sleep breathing is irregular, never an apnea, and what its docstring says."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from respmon.sim.sleep_styles import REM_RATE_RANGE_BPM, rem_sleep_breathing


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), duration_s=st.floats(60.0, 600.0))
def test_rem_sleep_breathing_has_no_apnea_and_a_resting_rate(seed, duration_s):
    s = rem_sleep_breathing(np.random.default_rng(seed), duration_s)
    assert s.displacement_mm.shape == (int(round(duration_s * 10)),)
    assert np.all(np.isfinite(s.displacement_mm))
    assert s.apneas_s == []  # every pause under the AASM's 10 s
    # the bursts make the mean rate a little faster than the tonic range, never a tachypnea's 30+
    assert REM_RATE_RANGE_BPM[0] <= s.mean_rate_bpm <= 30.0


def test_rem_sleep_breathing_is_irregular_where_the_rsm_eupnea_is_not():
    # Breath-to-breath intervals from the signal's own peaks: REM's vary far more.
    from respmon.sim.rsm_physiological import physiological_signal

    def interval_cv(x):
        from scipy.signal import find_peaks

        peaks, _ = find_peaks(x, prominence=0.5 * np.std(x))
        d = np.diff(peaks)
        return float(np.std(d) / np.mean(d))

    rem = [interval_cv(rem_sleep_breathing(np.random.default_rng(s), 300.0).displacement_mm) for s in range(8)]
    rsm = [interval_cv(physiological_signal("eupnea", np.random.default_rng(s), duration_s=300.0,
                                            artefacts=False).displacement_mm) for s in range(8)]
    assert np.median(rem) > 2 * np.median(rsm), (rem, rsm)


@pytest.mark.parametrize("duration_s, rate_hz", [(0.0, 10.0), (-1.0, 10.0), (60.0, 0.0)])
def test_rem_sleep_breathing_refuses_nonsense(duration_s, rate_hz):
    with pytest.raises(ValueError):
        rem_sleep_breathing(np.random.default_rng(0), duration_s, rate_hz)
