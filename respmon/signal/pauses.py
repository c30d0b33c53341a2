"""The pause judgement: how long since the last breath, and whether that is still breathing.

A pure function of the analysed window and what the analyzer has learnt of the breathing so far
(its reference breath amplitude and typical interval); BreathingAnalyzer calls it once a second.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import signal as sps

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
EFFORT_FILTER_ORDER = 2


@dataclass(frozen=True)
class PauseJudgement:
    seconds_since_breath: float | None  # unrounded; None when no pause can be judged
    breathing: bool | None  # False: a pause longer than a breath interval allows (apnea); None: not judged


NOT_JUDGED = PauseJudgement(None, None)


def effort_band_hz(typical_interval_s: float, rate_hz: float) -> tuple[float, float]:
    f0_hz = 1.0 / typical_interval_s
    low = max(rsp.BAND_HZ[0], EFFORT_BAND[0] * f0_hz)
    high = min(0.45 * rate_hz, max(EFFORT_BAND[1] * f0_hz, low + 0.05))
    return low, high


def effort_signal(x: np.ndarray, rate_hz: float, band_hz: tuple[float, float]) -> np.ndarray:
    """The signal in the effort band (zero phase): breaths at about the rate they had."""
    x = sps.detrend(np.asarray(x, dtype=float), type="linear")
    sos = sps.butter(EFFORT_FILTER_ORDER, band_hz, btype="bandpass", fs=rate_hz, output="sos")
    return sps.sosfiltfilt(sos, x, padlen=min(len(x) - 1, int(3 * rate_hz / band_hz[0]) // 4))


def effort_noise_sigma(x: np.ndarray, rate_hz: float, band_hz: tuple[float, float],
                       source_hz: float | None = None) -> float:
    """The part of the signal's white noise that passes the effort band."""
    return float(rsp.noise_sigma(x, rate_hz, source_hz) * np.sqrt((band_hz[1] - band_hz[0]) / (rate_hz / 2.0)))


def judge_pause(x: np.ndarray, rate_hz: float, long_estimate: rsp.RateEstimate,
                reference_amplitude: float | None, typical_interval_s: float | None,
                apnea_min_s: float, source_hz: float | None = None) -> PauseJudgement:
    """Seconds since the last breath at the end of `x`, and whether the breathing goes on.

    x: the window `long_estimate` was made on (the signal, oldest first, at rate_hz);
    reference_amplitude: peak to trough of recent confident breathing, None if never learnt;
    typical_interval_s: the recent breath interval, None if not known;
    source_hz: the rate the signal was measured at, if slower than rate_hz (rsp.noise_sigma).
    A pause is breathing no more once it lasts over apnea_min_s and PAUSE_INTERVALS breath
    intervals. A central apnea is the absence of effort, so the pause ends only with a swing in
    the effort band (around the breathing frequency) of EFFORT_FRACTION of the reference, clear
    of the noise measured in that band: the heartbeat and sensor noise are not effort.
    NOT_JUDGED when the signal cannot tell a pause from no signal.
    """
    if reference_amplitude is None or typical_interval_s is None or len(x) < 4 * rate_hz:
        # Breaths were never told apart on this signal: a pause cannot be told from no signal.
        return NOT_JUDGED
    band = effort_band_hz(typical_interval_s, rate_hz)
    sigma = effort_noise_sigma(x, rate_hz, band, source_hz)
    if rsp.NOISE_MARGIN * sigma >= HYPOPNEA_FRACTION * reference_amplitude / 2:
        # The noise, not the breathing, sets the breath threshold: missing breaths would be
        # the noise hiding them, so no pause is judged (never a false apnea from a noisy signal).
        return NOT_JUDGED
    end_s = len(x) / rate_hz
    last_effort_s = long_estimate.breaths.last_effort_s
    since = end_s if last_effort_s is None else max(0.0, end_s - last_effort_s)
    pause_limit_s = max(apnea_min_s, PAUSE_INTERVALS * typical_interval_s)
    if since > apnea_min_s:
        level = max(EFFORT_FRACTION * reference_amplitude / 2.0, rsp.NOISE_MARGIN * sigma)
        since = since_effort(effort_signal(x, rate_hz, band), rate_hz, level, since)
    return PauseJudgement(since, bool(since <= pause_limit_s))


def since_effort(effort: np.ndarray, rate_hz: float, level: float, since_s: float) -> float:
    """Seconds since the last breath, counting shallow ones too before calling it a pause.

    The rate's breath detector needs swings of a fair share of the reference amplitude, which
    after a change from deep to shallow breathing (eupnea into shallow bradypnea, a hypopnea)
    misses every new breath: over the pause, any swing of the effort signal past +-level ends it.
    """
    recent_n = min(len(effort), int(round((since_s + 2.0) * rate_hz)))
    efforts = rsp.rsp_peaks(effort[-recent_n:], rate_hz, level)
    last = efforts.last_effort_s
    return since_s if last is None else min(since_s, max(0.0, recent_n / rate_hz - last))
