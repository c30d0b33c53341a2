"""The pause judgement: how long since the last breath, and whether that is still breathing.

A pure function of the analysed window and what the analyzer has learnt of the breathing so far
(its reference breath amplitude and typical interval); BreathingAnalyzer calls it once a second.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from respmon.signal import rate as rsp

PAUSE_INTERVALS = 1.5  # a pause longer than this many breath intervals is not slow breathing
EFFORT_FRACTION = 0.10  # a swing of this share of the reference amplitude is a (shallow) breath (AASM: an apnea is a 90 % drop)


@dataclass(frozen=True)
class PauseJudgement:
    seconds_since_breath: float | None  # unrounded; None when no pause can be judged
    breathing: bool | None  # False: a pause longer than a breath interval allows (apnea); None: not judged


NOT_JUDGED = PauseJudgement(None, None)


def judge_pause(x: np.ndarray, rate_hz: float, long_estimate: rsp.RateEstimate,
                reference_amplitude: float | None, typical_interval_s: float | None,
                apnea_min_s: float) -> PauseJudgement:
    """Seconds since the last breath at the end of `x`, and whether the breathing goes on.

    x: the window `long_estimate` was made on (the signal, oldest first, at rate_hz);
    reference_amplitude: peak to trough of recent confident breathing, None if never learnt;
    typical_interval_s: the recent breath interval, None if not known.
    A pause is breathing no more once it lasts over apnea_min_s and PAUSE_INTERVALS breath
    intervals. NOT_JUDGED when the signal cannot tell a pause from no signal.
    """
    if reference_amplitude is None:
        # Breaths were never told apart on this signal: a pause cannot be told from no signal.
        return NOT_JUDGED
    if rsp.NOISE_MARGIN * long_estimate.noise_sigma >= rsp.HYSTERESIS_FRACTION * reference_amplitude / 2:
        # The noise, not the breathing, sets the breath threshold: missing breaths would be
        # the noise hiding them, so no pause is judged (never a false apnea from a noisy signal).
        return NOT_JUDGED
    end_s = len(x) / rate_hz
    last_effort_s = long_estimate.breaths.last_effort_s
    since = end_s if last_effort_s is None else max(0.0, end_s - last_effort_s)
    pause_limit_s = max(apnea_min_s, PAUSE_INTERVALS * (typical_interval_s or 0.0))
    if since > apnea_min_s:
        since = since_small_effort(x, rate_hz, reference_amplitude, long_estimate.noise_sigma, since)
    return PauseJudgement(since, bool(since <= pause_limit_s))


def since_small_effort(x: np.ndarray, rate_hz: float, reference_amplitude: float, noise_sigma: float,
                       since_s: float) -> float:
    """Seconds since the last breath, counting shallow ones too before calling it a pause.

    The rate's breath detector needs swings of a fair share of the reference amplitude, which
    after a change from deep to shallow breathing (eupnea into shallow bradypnea) misses
    every new breath. A pause (apnea) is a drop of about 90 % in amplitude: over the pause,
    any breath of EFFORT_FRACTION of the reference that stands clear of the noise ends it.
    """
    clean = rsp.rsp_clean(x, rate_hz)
    level = max(EFFORT_FRACTION * reference_amplitude / 2.0, rsp.NOISE_MARGIN * noise_sigma)
    recent_n = min(len(clean), int(round((since_s + 2.0) * rate_hz)))
    efforts = rsp.rsp_peaks(clean[-recent_n:], rate_hz, level)
    last = efforts.last_effort_s
    return since_s if last is None else min(since_s, max(0.0, recent_n / rate_hz - last))
