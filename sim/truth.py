"""Reading a synthetic recording's truth (FILE.truth.json): where its breathing pauses are."""

from __future__ import annotations

import numpy as np

STILL_MM_PER_FRAME = 1e-3  # the truth displacement is exact: a pause is flat to well under this


def pauses_s(truth: dict, after_s: float = 0.0, min_pause_s: float = 5.0) -> list[tuple[float, float]]:
    """(start, end) of the pauses (no chest movement for at least min_pause_s) starting at or after
    after_s."""
    t_s = np.asarray(truth["frames"]["t_s"], dtype=float)
    x = np.asarray(truth["frames"]["displacement_mm"], dtype=float)
    still = np.abs(np.diff(x, prepend=x[0])) < STILL_MM_PER_FRAME
    found, begin = [], None
    for i, flat in enumerate(np.append(still, False)):
        if flat and begin is None:
            begin = i
        elif not flat and begin is not None:
            end_s = float(t_s[min(i, len(t_s) - 1)])
            if end_s - t_s[begin] >= min_pause_s and t_s[begin] >= after_s:
                found.append((float(t_s[begin]), end_s))
            begin = None
    return found


def pause_starts_s(truth: dict, after_s: float = 0.0, min_pause_s: float = 5.0) -> list[float]:
    """Start times of the pauses at or after after_s."""
    return [start for start, _ in pauses_s(truth, after_s, min_pause_s)]


def cycle_s(truth: dict, after_s: float = 0.0) -> float | None:
    """The median time from one pause to the next (periodic breathing's cycle), None if < 2 pauses."""
    starts = pause_starts_s(truth, after_s)
    return float(np.median(np.diff(starts))) if len(starts) >= 2 else None
