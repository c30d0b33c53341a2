"""Reading a synthetic recording's truth (FILE.truth.json): where its breathing pauses are, and
which pattern a classifier window of a scene shows."""

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


REGULAR_SEGMENTS = ("eupnea", "bradypnea", "tachypnea", "hypopnea")
# The RSM's central apnea class: breathing, then an apnea of at least this long closing the window.
APNEA_IN_WINDOW_S = 20.0


def window_pattern(segments: list[dict], t_end_s: float, window_s: float = 60.0) -> str | None:
    """The pattern of the window (t_end_s - window_s, t_end_s] of a scene with these truth segments
    (dicts with pattern, start_s, end_s, rate_bpm), or None where it is not one pattern.

    - inside one breathing segment (regular breathing or hypopnea): the pattern its rate implies;
      inside a Biot's or Cheyne-Stokes segment: that pattern;
    - ending in a central apnea with breathing before it and at least APNEA_IN_WINDOW_S of the
      apnea in the window: central_apnea;
    - anything else (an apnea at the start, motion, absence, a change of pattern): None.
    """
    from respmon.patterns import pattern_for_rate

    start = t_end_s - window_s
    for i, seg in enumerate(segments):
        if not seg["start_s"] <= t_end_s <= seg["end_s"]:
            continue
        name = seg["pattern"]
        if name == "central_apnea":
            before = segments[i - 1] if i > 0 else None
            breathing_before = before is not None and before["pattern"] in REGULAR_SEGMENTS and before["start_s"] <= start
            if breathing_before and start < seg["start_s"] and t_end_s - seg["start_s"] >= APNEA_IN_WINDOW_S:
                return "central_apnea"
            return None
        if seg["start_s"] > start:
            return None  # the window reaches back into the segment before
        if name in REGULAR_SEGMENTS:
            return pattern_for_rate(seg["rate_bpm"])
        if name in ("biots", "cheyne_stokes"):
            return name
        return None
    return None
