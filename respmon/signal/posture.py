"""Posture steps: the breathing signal settling at a new level (a repositioning), not a breath."""

from __future__ import annotations

import numpy as np

STEP_HOLD_S = 3.0  # a posture step: the signal this long at a new level...
STEP_BEFORE_S = 20.0  # ...outside the range it covered this long before...
STEP_MARGIN = 1.0  # ...by this many times that range...
STEP_MIN_MM = 5.0  # ...and at least this much


def posture_step(samples, rate_hz: float) -> bool:
    """True when the last STEP_HOLD_S of the signal lie wholly outside the range the breathing
    covered over the STEP_BEFORE_S before, by more than STEP_MARGIN times that range (and at
    least STEP_MIN_MM): a new resting level, not a breath. A sigh or a cough leaves the range for
    a moment only; an apnea rests at the bottom of it; a crescendo returns to it every breath."""
    hold_n, before_n = int(round(STEP_HOLD_S * rate_hz)), int(round(STEP_BEFORE_S * rate_hz))
    if len(samples) < hold_n + before_n:
        return False
    x = np.fromiter(samples, dtype=float, count=len(samples))[-(hold_n + before_n):]
    before, last = x[:before_n], x[before_n:]
    low, high = np.percentile(before, [5, 95])
    margin = max(STEP_MARGIN * (high - low), STEP_MIN_MM)
    return bool(last.max() < low - margin or last.min() > high + margin)
