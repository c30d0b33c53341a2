"""The source's clock, judged frame by frame: whether a timestamp can be used as the next moment of
the breathing signal.

A camera that resets, a recording joined to another, a clock that jumps or freezes: the pipeline
runs on source time, so a timestamp that steps back would stop it (no new second ever completes),
one that leaps forward would make it write out every second in between from the signal it had,
and a non-finite one would make those seconds unbounded. Pure: timestamps in, a verdict out.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

# Beyond this (about 3,000 years in seconds) a timestamp is garbage, not a time: epoch
# milliseconds read as seconds are 1.7e12, which is still refused; epoch seconds are 1.7e9.
MAX_SOURCE_TIME_S = 1e11
# A longer wait between two frames is a gap: the signal cannot be joined across it.
MAX_FRAME_GAP_S = 1.0

StepKind = Literal["next", "repeat", "gap", "discontinuity", "invalid"]


@dataclass(frozen=True)
class ClockStep:
    """What a timestamp is to the one before it.

    next: the signal goes on; repeat: the same moment again or one up to MAX_FRAME_GAP_S before
    it (a frozen clock, a duplicate or out-of-order frame): nothing to add; gap: no frames for gap_s, up to the longest the pipeline accounts for second
    by second; discontinuity: the clock stepped back or leapt forward further than that, so the
    time in between is not the patient's; invalid: not a time at all.
    """

    kind: StepKind
    gap_s: float = 0.0
    reason: str | None = None


def judge_source_time(last_t_s: float | None, t_s: float, max_gap_s: float) -> ClockStep:
    """The step from last_t_s (the last usable timestamp, None before the first) to t_s.

    max_gap_s: the longest wait between frames that is still accounted for second by second (the
    daemon's source.stall_s: the longest a live camera may stall before it is called lost).
    """
    if not math.isfinite(t_s) or abs(t_s) > MAX_SOURCE_TIME_S:
        return ClockStep("invalid", reason=f"timestamp {t_s!r} s is not a time")
    if last_t_s is None:
        return ClockStep("next")
    step_s = t_s - last_t_s
    if -MAX_FRAME_GAP_S < step_s <= 0.0:
        # The same moment again, or a frame a little out of order (librealsense's timestamps do
        # step back by a frame now and then): nothing new; the clock soon passes the last one.
        return ClockStep("repeat")
    if step_s < 0.0:
        return ClockStep("discontinuity", reason=f"source clock stepped back {-step_s:.3g} s")
    if step_s > max_gap_s:
        return ClockStep("discontinuity", step_s, f"source clock leapt {step_s:.3g} s forward")
    if step_s > MAX_FRAME_GAP_S:
        return ClockStep("gap", step_s, f"no frames for {step_s:.1f} s")
    return ClockStep("next", step_s)


# The pace of a live camera's clock is measured over this much wall time: long enough that a frame
# queued for up to a second (the daemon's frame queue) moves the measured pace by at most 3 %.
PACE_SPAN_S = 30.0


class ClockPace:
    """Whether a live camera's clock runs at the wall clock's pace.

    Every rate and pause is timed on source time: a clock running at 0.5x would make 14 bpm read as
    28 and a 20 s apnea last 10 s. The pace is measured over PACE_SPAN_S of wall time; outside
    1 +- tolerance it is a fault until a later span is back within it. Steps of the clock (a
    reset, a leap: judge_source_time's to name) start the span afresh and say nothing of its pace.
    Pure: (wall time, source time) pairs in, the fault (or None) out.
    """

    def __init__(self, tolerance: float, span_s: float = PACE_SPAN_S):
        self.tolerance = tolerance
        self.span_s = span_s
        self.reset()

    def reset(self) -> None:
        """A new camera session: its clock is judged afresh."""
        self.fault: str | None = None
        self._anchor: tuple[float, float] | None = None
        self._last: tuple[float, float] | None = None

    def observe(self, wall_s: float, source_s: float) -> str | None:
        if not math.isfinite(source_s):
            return self.fault
        if self._last is not None and abs((source_s - self._last[1]) - (wall_s - self._last[0])) > MAX_FRAME_GAP_S:
            self._anchor = None  # a step of the clock, not a pace
        self._last = (wall_s, source_s)
        if self._anchor is None:
            self._anchor = (wall_s, source_s)
            return self.fault
        wall_span = wall_s - self._anchor[0]
        if wall_span >= self.span_s:
            pace = (source_s - self._anchor[1]) / wall_span
            self.fault = None if abs(pace - 1.0) <= self.tolerance else (
                f"the camera's clock runs at {pace:.2f}x the wall clock (rates and pauses would be timed wrong)")
            self._anchor = (wall_s, source_s)
        return self.fault
