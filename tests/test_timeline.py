from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from respmon.sim.recording import build_timeline, truth_frames
from respmon.sim.script import parse_script

FPS = 15


def _timeline(script: str, seed: int = 0):
    return build_timeline(parse_script(script), FPS, np.random.default_rng(seed))


def test_issue_script_segments_and_states():
    timeline = _timeline("eupnea@14:60,central_apnea:25,eupnea:60,motion:4,absent:20")
    assert timeline.frame_count == 169 * FPS
    assert [(s["pattern"], s["start_s"], s["end_s"]) for s in timeline.segments] == [
        ("eupnea", 0, 60), ("central_apnea", 60, 85), ("eupnea", 85, 145),
        ("motion", 145, 149), ("absent", 149, 169)]
    assert timeline.segments[0]["rate_bpm"] == pytest.approx(14, abs=1)
    assert timeline.segments[1]["rate_bpm"] is None
    d = timeline.displacement_mm
    breathing = d[: 60 * FPS]
    assert 2 <= np.ptp(breathing) <= 15
    # The apnea is flat once the chest has settled from the last breath (passive, about 1 s).
    apnea = d[(60 + 5) * FPS: 85 * FPS]
    assert np.ptp(apnea) < 0.05 * np.ptp(breathing)
    # The body moves only during `motion`, then stays where it went.
    pose = timeline.pose_mm
    assert np.all(pose[: 145 * FPS] == 0)
    shift = np.linalg.norm(pose[149 * FPS] - pose[145 * FPS])
    assert shift > 25
    assert np.all(pose[149 * FPS:] == pose[149 * FPS])
    assert timeline.present[: 149 * FPS].all() and not timeline.present[149 * FPS:].any()


@settings(max_examples=20, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["eupnea", "tachypnea", "bradypnea", "central_apnea", "motion",
                                           "absent"]), st.integers(1, 30)), min_size=1, max_size=5),
       st.integers(0, 2**32 - 1))
def test_timeline_is_continuous_and_sized(items, seed):
    script = ",".join(f"{name}:{seconds}" for name, seconds in items)
    timeline = _timeline(script, seed)
    assert timeline.frame_count == sum(seconds for _, seconds in items) * FPS
    assert timeline.segments[-1]["end_s"] == sum(seconds for _, seconds in items)
    # No step between frames larger than a breath can make in 1/15 s: segments are joined smoothly.
    assert np.max(np.abs(np.diff(timeline.displacement_mm)), initial=0) < 3.0
    again = _timeline(script, seed)
    assert np.array_equal(timeline.displacement_mm, again.displacement_mm)


def test_truth_follows_the_frames_that_played_back():
    timeline = _timeline("eupnea@12:10")
    played = list(range(5, timeline.frame_count))  # the first five frames went missing
    truth = truth_frames(timeline, played, first_number=0)
    assert truth["frame_number"] == played
    assert truth["t_s"][0] == pytest.approx(5 / FPS)
    assert truth["displacement_mm"] == pytest.approx(list(timeline.displacement_mm[5:]), abs=1e-4)
    # A gap in the middle is matched by frame number too, not by position.
    gappy = [0, 1, 2, 10, 11]
    truth = truth_frames(timeline, gappy, first_number=0)
    assert truth["displacement_mm"][3] == pytest.approx(timeline.displacement_mm[10], abs=1e-4)


def test_truth_refuses_frames_that_were_never_recorded():
    timeline = _timeline("eupnea:10")
    with pytest.raises(ValueError):
        truth_frames(timeline, [timeline.frame_count], first_number=0)
    with pytest.raises(ValueError):
        truth_frames(timeline, [3, 2], first_number=0)
