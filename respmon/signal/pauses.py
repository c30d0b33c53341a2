"""The pause judgement: how long since the last breath, and whether that is still breathing.

A pure function of the analysed window and what the analyzer has learnt of the breathing so far
(its reference breath amplitude and typical interval); BreathingAnalyzer calls it once a second.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats

from respmon.signal import rate as rsp

PAUSE_INTERVALS = 1.5  # a pause longer than this many breath intervals is not slow breathing
# A breath during a pause is a swing of at least this share of the reference amplitude in the
# effort band. Hypopnea breaths are 30-50 % of normal depth and count; what a flat chest still
# shows in that band (heartbeat leaking in, sensor noise) must not.
EFFORT_FRACTION = 0.2
# A pause is judged only when the noise in the effort band leaves hypopnea breaths (this share
# of the reference) visible; otherwise missing breaths could be the noise hiding them.
HYPOPNEA_FRACTION = 0.3
# The effort band, as multiples of the typical breathing frequency: breathing effort resumes at
# about the rate it had; the heartbeat (45-120 /min) and most sensor noise lie above it.
EFFORT_BAND = (0.5, 1.8)
EFFORT_MIN_HIGH_HZ = 0.4  # 24 /min; the heartbeat (45 /min and up) stays above
# Noise sigmas a breath must clear in the effort band. The sigma is white noise's share of that
# band; real depth noise has more power at the slow end (drift, 1/f), where slow breathing's band
# lies, so the margin is wider than the rate stage's three.
EFFORT_NOISE_MARGIN = 4.0
ENERGY_WINDOW_S = 8.0  # the energy judgement's window (at least two breath intervals)
ENERGY_FALSE_RATE = 1e-3  # chance that noise alone fills one window with "effort"


@dataclass(frozen=True)
class PauseJudgement:
    seconds_since_breath: float | None  # unrounded; None when no pause can be judged
    breathing: bool | None  # False: a pause longer than a breath interval allows (apnea); None: not judged


NOT_JUDGED = PauseJudgement(None, None)


def effort_band_hz(typical_interval_s: float, rate_hz: float) -> tuple[float, float]:
    f0_hz = 1.0 / typical_interval_s
    low = max(rsp.BAND_HZ[0], EFFORT_BAND[0] * f0_hz)
    # Never below EFFORT_MIN_HIGH_HZ: a breath interval learnt wrong (too slow) must not shut
    # real breaths out of the band and make a pause of them.
    high = min(0.45 * rate_hz, max(EFFORT_BAND[1] * f0_hz, EFFORT_MIN_HIGH_HZ))
    return low, high


def effort_signal(x: np.ndarray, rate_hz: float, band_hz: tuple[float, float]) -> np.ndarray:
    """The signal in the effort band (zero phase): breaths at about the rate they had."""
    return rsp.band_pass(x, rate_hz, *band_hz)


def effort_noise_sigma(x: np.ndarray, rate_hz: float, band_hz: tuple[float, float],
                       source_hz: float | None = None) -> float:
    """The part of the signal's white noise that passes the effort band."""
    return float(rsp.noise_sigma(x, rate_hz, source_hz) * np.sqrt((band_hz[1] - band_hz[0]) / (rate_hz / 2.0)))


def judge_pause(x: np.ndarray, rate_hz: float, reference_amplitude: float | None, typical_interval_s: float | None,
                apnea_min_s: float, source_hz: float | None = None) -> PauseJudgement:
    """Seconds since the last breath at the end of `x`, and whether the breathing goes on.

    x: the signal, oldest first, at rate_hz;
    reference_amplitude: peak to trough of recent confident breathing, None if never learnt;
    typical_interval_s: the recent breath interval, None if not known;
    source_hz: the rate the signal was measured at, if slower than rate_hz (rsp.noise_sigma).
    A pause is breathing no more once it lasts over apnea_min_s and PAUSE_INTERVALS breath
    intervals. A central apnea is the absence of effort, so breaths are looked for in the effort
    band (around the breathing frequency), as swings of EFFORT_FRACTION of the reference clear of
    the noise measured in that band: the heartbeat and sensor noise are not effort. Where single
    breaths of a hypopnea would drown in the noise, the band's energy over a few breaths is judged
    instead; NOT_JUDGED when even that cannot tell a pause from no signal.
    """
    if reference_amplitude is None or typical_interval_s is None or len(x) < 4 * rate_hz:
        # Breaths were never told apart on this signal: a pause cannot be told from no signal.
        return NOT_JUDGED
    band = effort_band_hz(typical_interval_s, rate_hz)
    sigma = effort_noise_sigma(x, rate_hz, band, source_hz)
    effort = effort_signal(x, rate_hz, band)
    limit_s = pause_limit_s(apnea_min_s, typical_interval_s)
    if EFFORT_NOISE_MARGIN * sigma >= HYPOPNEA_FRACTION * reference_amplitude / 2:
        since = since_effort_energy(effort, rate_hz, sigma, band, reference_amplitude, typical_interval_s)
    else:
        level = max(EFFORT_FRACTION * reference_amplitude / 2.0, EFFORT_NOISE_MARGIN * sigma)
        since = since_effort(effort, rate_hz, level)
    return NOT_JUDGED if since is None else PauseJudgement(since, bool(since <= limit_s))


def pause_limit_s(apnea_min_s: float, typical_interval_s: float) -> float:
    """The longest a pause between breaths may last and still be breathing."""
    return max(apnea_min_s, PAUSE_INTERVALS * typical_interval_s)


def since_effort(effort: np.ndarray, rate_hz: float, level: float) -> float:
    """Seconds since the last breath of the effort signal (a rise past +level then a fall past
    -level, or a rise still under way at the end); the whole window if none."""
    last = rsp.rsp_peaks(effort, rate_hz, level).last_effort_s
    end_s = len(effort) / rate_hz
    return end_s if last is None else max(0.0, end_s - last)


def since_effort_energy(effort: np.ndarray, rate_hz: float, sigma: float, band_hz: tuple[float, float],
                        reference_amplitude: float, typical_interval_s: float) -> float | None:
    """Seconds since the last breathing effort, from the energy of the effort band over a window
    of ENERGY_WINDOW_S or two breath intervals, for signals too noisy to tell breaths one by one.

    A window holds effort when its mean square beats both the noise's (sigma², with a 0.1 %
    chance of noise alone reaching it over the window's degrees of freedom) and the noise plus the
    weakest breathing that counts (EFFORT_FRACTION of the reference). None when even a hypopnea
    (HYPOPNEA_FRACTION) could not beat the noise: the pause cannot be judged.
    """
    n = int(round(max(ENERGY_WINDOW_S, 2.0 * typical_interval_s) * rate_hz))
    if len(effort) < 2 * n:
        return None  # too few windows yet to see breathing stop
    dof = max(1.0, 2.0 * (band_hz[1] - band_hz[0]) * n / rate_hz)
    noise_only = sigma**2 * float(stats.chi2.ppf(1.0 - ENERGY_FALSE_RATE, dof)) / dof
    breath_ms = (reference_amplitude / 2.0) ** 2 / 2.0  # mean square of the reference breathing
    # A hypopnea's window: its breaths' mean square (steady over two breaths and more) plus noise
    # that may come out as low as its 0.1 % quantile; it must still beat noise alone.
    hypopnea_low = HYPOPNEA_FRACTION**2 * breath_ms + sigma**2 * float(stats.chi2.ppf(ENERGY_FALSE_RATE, dof)) / dof
    if hypopnea_low <= noise_only:
        return None
    threshold = max(noise_only, sigma**2 + EFFORT_FRACTION**2 * breath_ms)
    energy = np.convolve(effort**2, np.ones(n) / n, mode="valid")  # window i covers [i, i + n)
    above = np.flatnonzero(energy >= threshold)
    end_s = len(effort) / rate_hz
    if len(above) == 0:
        return end_s
    # A window [i, i + n) over breathing that stopped at s holds the share (s - i) / n of it, and
    # its mean square is about sigma² plus that share of the breathing's:
    # the last window above the threshold says where in it the breathing stopped (at its end if
    # it is as full as any).
    last = above[-1]
    # The typical window of breathing (a median: a sigh's window is no measure of it).
    full = float(np.median(energy[above])) - sigma**2
    share = 1.0 if full <= 0 else min(1.0, max(0.0, (float(energy[last]) - sigma**2) / full))
    last_s = (last + share * n) / rate_hz
    return max(0.0, end_s - last_s)
