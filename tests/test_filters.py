"""respmon/signal/filters.py against scipy.signal, which it replaces in the signal stage: the same
Butterworth band-pass run forward and backward (sosfiltfilt), and the same linear detrend."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import signal as sps

from respmon.signal.filters import as_sos, butter_bandpass_sections, detrend_linear, filtfilt


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), rate_hz=st.sampled_from([6.0, 10.0, 15.0, 30.0]),
       low_hz=st.floats(0.02, 0.5), width=st.floats(0.05, 0.95), n=st.integers(8, 3000),
       padtype=st.sampled_from(["odd", "even"]), order=st.integers(1, 4))
def test_band_pass_equals_scipys_sosfiltfilt(seed, rate_hz, low_hz, width, n, padtype, order):
    high_hz = low_hz + width * (0.45 * rate_hz - low_hz)
    if high_hz <= low_hz * 1.05:
        return
    rng = np.random.default_rng(seed)
    x = np.cumsum(rng.normal(size=n)) + 3.0 * rng.normal(size=n) + 50.0
    padlen = min(n - 1, int(3 * rate_hz / low_hz) // 4)
    sos = sps.butter(order, [low_hz, high_hz], btype="bandpass", fs=rate_hz, output="sos")
    expected = sps.sosfiltfilt(sos, sps.detrend(x, type="linear"), padtype=padtype, padlen=padlen)
    sections = butter_bandpass_sections(order, low_hz, high_hz, rate_hz)
    got = filtfilt(sections, detrend_linear(x), padlen, padtype)
    assert got.shape == expected.shape
    assert np.abs(got - expected).max() <= 1e-9 * max(1.0, np.abs(expected).max())
    # the same filter: the same frequency response
    _, h_scipy = sps.sosfreqz(sos, worN=512, fs=rate_hz)
    _, h_ours = sps.sosfreqz(as_sos(sections), worN=512, fs=rate_hz)
    assert np.abs(h_scipy - h_ours).max() <= 1e-9


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(0, 2000))
def test_detrend_equals_scipys(seed, n):
    x = np.random.default_rng(seed).normal(size=n) * 10 + np.arange(n) * 0.3
    expected = sps.detrend(x, type="linear") if n >= 2 else x - x.mean() if n else x
    assert np.allclose(detrend_linear(x), expected, rtol=0, atol=1e-9 * max([1.0, *np.abs(x)]))


@pytest.mark.parametrize("order", [1, 3])
def test_a_nearly_critically_damped_section_is_no_nan(order):
    # a section whose poles are almost a real double pole (found by review): sin(theta) ~ 0
    rate_hz, low_hz, high_hz = 30.0, 0.1, 0.582141800507253
    x = np.random.default_rng(3).normal(size=2000)
    sos = sps.butter(order, [low_hz, high_hz], btype="bandpass", fs=rate_hz, output="sos")
    expected = sps.sosfiltfilt(sos, x, padlen=225)
    got = filtfilt(butter_bandpass_sections(order, low_hz, high_hz, rate_hz), x, 225)
    assert np.all(np.isfinite(got)) and np.abs(got - expected).max() <= 1e-9 * np.abs(expected).max()


def test_a_band_outside_the_nyquist_range_or_a_bad_padding_is_refused():
    with pytest.raises(ValueError, match="must lie inside"):
        butter_bandpass_sections(2, 0.5, 6.0, 10.0)
    sections = butter_bandpass_sections(2, 0.05, 1.2, 10.0)
    with pytest.raises(ValueError, match="padlen"):
        filtfilt(sections, np.ones(10), 10)
    with pytest.raises(ValueError, match="padtype"):
        filtfilt(sections, np.ones(10), 3, "constant")
    with pytest.raises(ValueError, match="empty"):
        filtfilt(sections, np.ones(0), 0)


def test_the_signal_stage_imports_neither_scipy_signal_nor_scipy_stats():
    import subprocess
    import sys

    code = ("import sys\nfrom respmon.config import default_config\nfrom respmon.daemon.app import Daemon, "
            "load_configured_model\nimport respmon.monitor, respmon.replay\nload_configured_model(default_config())\n"
            "print(sorted(m for m in ('scipy.signal', 'scipy.stats', 'torch') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stdout.strip() == "[]", done.stdout + done.stderr
