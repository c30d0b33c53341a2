"""A source clock that steps back, leaps, freezes or is garbage: the Monitor neither stops nor
invents seconds, and says that it could not monitor (issue 11: 72 s of silence after a clock
step back; 3,604 made-up windows after a 1 h jump; a replay grown to 3.9 GB on an infinite
timestamp)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from respmon.config import default_config
from respmon.monitor import Monitor
from respmon.signal.analyzer import MIN_ANALYSIS_S
from respmon.sources.clock import MAX_FRAME_GAP_S, judge_source_time

RATE_HZ = 10.0


@pytest.mark.parametrize("last, t, kind", [
    (None, 5.0, "next"), (5.0, 5.1, "next"), (5.0, 5.0, "repeat"), (5.0, 4.9, "repeat"), (5.0, 3.9, "discontinuity"),
    (5.0, 5.0 + 3600.0, "discontinuity"), (5.0, 8.0, "gap"), (5.0, 5.0 + MAX_FRAME_GAP_S, "next"),
    (5.0, math.inf, "invalid"), (5.0, math.nan, "invalid"), (None, -math.inf, "invalid"), (5.0, 1e300, "invalid"),
    (None, 1.7e12, "invalid"),  # epoch milliseconds passed as seconds
])
def test_each_step_is_named(last, t, kind):
    assert judge_source_time(last, t, max_gap_s=5.0).kind == kind


def _breathing(t_s: np.ndarray) -> np.ndarray:
    return 3.0 * np.sin(2 * np.pi * 0.25 * np.nan_to_num(t_s, posinf=0.0, neginf=0.0))


def _run(times: np.ndarray) -> list[dict]:
    config = default_config()
    monitor = Monitor(config)
    lines = []
    for t in times:
        lines += monitor.sample(float(t), float(_breathing(np.array([t]))[0]))
    return lines + monitor.finish(float(times[-1]) + 0.1)


def test_a_clock_that_steps_back_keeps_monitoring_and_says_so():
    before = np.arange(0, 90, 0.1)
    after = 40.0 + np.arange(0, 90, 0.1)  # the camera reset: its clock starts again 50 s earlier
    lines = _run(np.concatenate([before, after]))
    assert [w["t"] for w in lines] == list(range(1, len(lines) + 1))  # no second skipped or repeated
    assert len(lines) == 180  # every second of the source's, none waited for
    lost = [w for w in lines if w["state"] == "lost"]
    assert len(lost) == 1 and "stepped back 49.9 s" in lost[0]["reason"] and 90 <= lost[0]["t"] <= 92
    # the signal starts anew: no rate until it has MIN_ANALYSIS_S of its own, then one again
    after_step = [w for w in lines if w["t"] > lost[0]["t"]]
    assert all(w["rr_bpm"] is None for w in after_step[: int(MIN_ANALYSIS_S) - 1])
    assert sum(w["rr_bpm"] is not None for w in after_step) > 60


def test_an_hour_leapt_over_is_no_hour_of_windows():
    times = np.concatenate([np.arange(0, 90, 0.1), 3690.0 + np.arange(0, 30, 0.1)])
    lines = _run(times)
    assert len(lines) == 120
    lost = [w for w in lines if w["state"] == "lost"]
    assert len(lost) == 1 and "leapt 3.6e+03 s forward" in lost[0]["reason"]
    assert all(w["rr_bpm"] is None for w in lines if lost[0]["t"] <= w["t"] < lost[0]["t"] + MIN_ANALYSIS_S - 1)


def test_the_seconds_of_a_gap_are_lost_and_no_rate_is_carried_across():
    times = np.concatenate([np.arange(0, 60, 0.1), 63.0 + np.arange(0, 30, 0.1)])
    lines = _run(times)
    assert [w["t"] for w in lines] == list(range(1, 94))
    lost = [w["t"] for w in lines if w["state"] == "lost"]
    assert lost == [60, 61, 62, 63]  # the seconds the gap began in and lasted
    assert all("no frames for 3.1 s" in w["reason"] for w in lines if w["state"] == "lost")
    assert all(w["rr_bpm"] is None for w in lines if 63 < w["t"] < 63 + MIN_ANALYSIS_S)


def test_timestamps_that_are_no_time_are_skipped():
    times = np.arange(0, 70, 0.1)
    times[[100, 200, 300]] = [math.nan, math.inf, 1e300]
    lines = _run(np.append(times, math.inf))  # finish() at an infinite end stays bounded too
    assert [w["t"] for w in lines] == list(range(1, 71))
    assert not any(w["state"] == "lost" for w in lines)


@settings(max_examples=40, deadline=None, derandomize=True)
@given(st.lists(st.tuples(st.sampled_from(["next", "back", "gap", "leap", "repeat", "nan"]),
                          st.floats(0.0, 1.0)), min_size=1, max_size=12))
def test_whatever_the_clock_does_seconds_follow_one_another_and_none_is_invented(steps):
    # Stretches of 3-12 s of samples at 10 Hz, each begun by one of the clock's faults.
    t, times, accounted_s = 0.0, [], 0.0
    for kind, u in steps:
        if kind == "back":
            t -= 1.0 + 100.0 * u
        elif kind == "gap":
            t += 1.5 + 3.0 * u
            accounted_s += 1.5 + 3.0 * u
        elif kind == "leap":
            t += 10.0 + 1e6 * u
        elif kind == "repeat":
            times += [t] * 5
        elif kind == "nan":
            times.append(math.nan)
        stretch = t + np.arange(0.0, 3.0 + 9.0 * u, 0.1)
        times += list(stretch)
        accounted_s += len(stretch) * 0.1
        t = stretch[-1] + 0.1
    lines = _run(np.array(times))
    assert [w["t"] for w in lines] == list(range(1, len(lines) + 1))
    assert len(lines) <= accounted_s + 2.0  # the patient's seconds, and none of the leaps'
    # a rate is never carried across a fault
    last_lost = -math.inf
    for w in lines:
        if w["state"] == "lost":
            last_lost = w["t"]
        elif w["rr_bpm"] is not None:
            assert w["t"] - last_lost >= MIN_ANALYSIS_S - 1


def test_a_frame_a_little_out_of_order_is_skipped_not_a_fault():
    # librealsense's timestamps step back by a frame now and then: that is no camera reset, and a
    # lost second (a technical alarm) and a restarted signal for it would be a nuisance alarm.
    times = np.arange(0, 60, 0.1)
    times[300] = times[299] - 0.001
    lines = _run(times)
    assert not any(w["state"] == "lost" for w in lines)
    assert all(w["rr_bpm"] is not None for w in lines if w["t"] >= 20)


def test_a_frozen_clock_after_a_reset_far_from_the_start_is_no_stream_of_faults():
    # Judged against the timestamp as the source gave it, not one rebuilt in floating point from a
    # moved origin (10 h in, then a reset to 0, then the same timestamp again and again).
    times = np.concatenate([36_000.0 + np.arange(0, 30, 0.1), np.full(200, 0.123456789)])
    lines = _run(times)
    assert [w["state"] for w in lines].count("lost") <= 1


def test_clock_pace_names_a_clock_running_off_the_wall_clock_and_forgives_steps():
    from respmon.sources.clock import ClockPace

    pace = ClockPace(tolerance=0.1, span_s=30.0)
    wall, source = 0.0, 5e5
    for _ in range(31 * 15):  # on pace, with a frame queued up to 0.9 s late now and then
        wall += 1 / 15
        source += 1 / 15
        assert pace.observe(wall + (0.9 if int(wall) % 7 == 0 else 0.0), source) is None
    source += 3600.0  # a leap is the clock judge's to name, not a pace
    for _ in range(31 * 15):
        wall += 1 / 15
        source += 1 / 15
        assert pace.observe(wall, source) is None
    for _ in range(31 * 15):
        wall += 1 / 15
        source += 1.2 / 15
        fault = pace.observe(wall, source)
    assert fault is not None and ("1.19x" in fault or "1.20x" in fault)
    for _ in range(31 * 15):
        wall += 1 / 15
        source += 1 / 15
        fault = pace.observe(wall, source)
    assert fault is None
