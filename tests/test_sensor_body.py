"""The harder sensor and body models of the robustness matrix (sim/sensor.py, sim/body.py)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from scipy import ndimage
from scipy.signal import find_peaks

from respmon.sim.body import BodyKnobs, add_body_motion, cardiac_mm
from respmon.sim.matrix import build_scene, draw_scene, frames
from respmon.sim.recording import build_timeline
from respmon.sim.scene import MATTRESS, BedScene
from respmon.sim.script import parse_script
from respmon.sim.sensor import D435_BASELINE_MM, SensorKnobs

W, H = 212, 120


def _knobs(**changes) -> SensorKnobs:
    base = SensorKnobs(subpixel_px=0.08, correlation_px=2.0, frame_offset_share=0.0, warmup_drift_mm=0.0,
                       warmup_tau_s=600.0, warmup_elapsed_s=0.0, wander_mm=0.0, wander_period_s=300.0,
                       flying_share=0.3, dropout=0.005)
    return dataclasses.replace(base, **changes)


def _mattress_stack(distance_m: float, knobs: SensorKnobs, n: int = 24) -> tuple[BedScene, np.ndarray, np.ndarray]:
    scene = BedScene(W, H, distance_m=distance_m, seed=11, sensor=knobs)
    flat = ndimage.binary_erosion(scene.labels == MATTRESS, iterations=3)
    stack = np.stack([scene.render(0.0, t_s=i / 6.0) for i in range(n)]).astype(np.float64)
    return scene, flat & (stack > 0).all(axis=0), stack


@pytest.mark.parametrize("distance_m", [1.0, 2.0])
def test_pixel_noise_is_the_stereo_formula(distance_m):
    # Intel's RMS error: z^2 * subpixel / (focal * baseline), in each pixel over time.
    scene, px, stack = _mattress_stack(distance_m, _knobs())
    expected = (1000.0 * distance_m) ** 2 * 0.08 / (scene.intrinsics.fx * D435_BASELINE_MM)
    measured = float(np.median(stack[:, px].std(axis=0, ddof=1)))
    assert measured == pytest.approx(expected, rel=0.15)


def test_noise_is_spatially_correlated_and_white_when_asked():
    _, px, correlated = _mattress_stack(1.2, _knobs(correlation_px=6.0))
    _, px_w, white = _mattress_stack(1.2, _knobs(correlation_px=0.0))

    def neighbour_correlation(stack, mask):
        dev = stack - stack.mean(axis=0)
        both = mask[:, :-1] & mask[:, 1:]
        a, b = dev[:, :, :-1][:, both], dev[:, :, 1:][:, both]
        return float(np.corrcoef(a.ravel(), b.ravel())[0, 1])

    assert neighbour_correlation(correlated, px) > 0.5
    assert abs(neighbour_correlation(white, px_w)) < 0.15


def test_frame_jitter_moves_all_pixels_together():
    _, px, stack = _mattress_stack(1.5, _knobs(frame_offset_share=0.5, correlation_px=0.0), n=40)
    frame_means = stack[:, px].mean(axis=1)
    # Averaging thousands of pixels removes their own noise but not what every pixel shares.
    pixel_sigma = float(np.median(stack[:, px].std(axis=0)))
    assert frame_means.std() > 0.3 * pixel_sigma


def test_warmup_drift_decays_and_scales_with_distance_squared():
    near = BedScene(W, H, distance_m=1.0, seed=1, sensor=_knobs(warmup_drift_mm=4.0, warmup_tau_s=100.0))
    far = BedScene(W, H, distance_m=2.0, seed=1, sensor=_knobs(warmup_drift_mm=4.0, warmup_tau_s=100.0))
    assert near.sensor.common_mm(0.0, 1000.0) == pytest.approx(4.0)
    assert near.sensor.common_mm(100.0, 1000.0) == pytest.approx(4.0 / np.e)
    assert far.sensor.common_mm(0.0, 2000.0) == pytest.approx(16.0)


@given(pp=st.floats(0.1, 0.5), hr=st.floats(45.0, 120.0), seed=st.integers(0, 2**31))
@settings(max_examples=25, deadline=None, derandomize=True)
def test_heartbeat_has_its_size_and_rate(pp, hr, seed):
    fps = 30.0
    x = cardiac_mm(int(120 * fps), fps, pp, hr, 0.03, np.random.default_rng(seed))
    assert 0.75 * pp <= x.max() - x.min() <= 1.1 * pp
    beats, _ = find_peaks(x, height=0.5 * x.max(), distance=int(0.3 * fps))
    assert len(beats) / 2.0 == pytest.approx(hr, rel=0.1)  # beats in 120 s, per minute


def test_respiratory_events_stay_out_of_the_apnea_and_heartbeat_does_not():
    fps = 10
    timeline = build_timeline(parse_script("eupnea@15:120,central_apnea:60,eupnea@15:120"), fps,
                              np.random.default_rng(4))
    allowed = np.ones(timeline.frame_count, dtype=bool)
    allowed[120 * fps:180 * fps] = False
    knobs = BodyKnobs(cardiac_pp_mm=0.3, heart_rate_bpm=70.0, rr_cv=0.03, sighs_per_h=300.0, swallows_per_h=300.0,
                      twitches_per_h=0.0, blanket_gain=0.7, blanket_tau_s=0.0)
    surface, events = add_body_motion(timeline.displacement_mm, fps, knobs, allowed, 6.0, np.random.default_rng(5))
    assert any(e["event"] == "sigh" for e in events) and any(e["event"] == "swallow" for e in events)
    assert all(not 117.0 <= e["t_s"] <= 183.0 for e in events)
    apnea = surface[125 * fps:175 * fps]
    # Through the apnea only the heartbeat moves the chest: 0.3 mm, damped by the blanket to 0.21.
    assert 0.15 < apnea.max() - apnea.min() < 0.25
    breathing = surface[20 * fps:100 * fps]
    assert breathing.max() - breathing.min() > 5 * (apnea.max() - apnea.min())


def test_hypopnea_breathes_at_a_third_to_half_the_depth_before():
    timeline = build_timeline(parse_script("eupnea@15:60,hypopnea@15:60,eupnea@15:60"), 10,
                              np.random.default_rng(8))
    x = timeline.displacement_mm
    before = np.percentile(x[100:580], 95) - np.percentile(x[100:580], 5)
    during = np.percentile(x[700:1180], 95) - np.percentile(x[700:1180], 5)
    assert 0.25 <= during / before <= 0.55
    assert [s["pattern"] for s in timeline.segments] == ["eupnea", "hypopnea", "eupnea"]


def test_matrix_scene_is_reproducible_from_its_seed_and_records_every_knob():
    a, b = draw_scene(7), draw_scene(7)
    assert a == b
    d = a.as_dict()
    assert set(d["sensor"]) >= {"subpixel_px", "correlation_px", "frame_offset_share", "warmup_drift_mm",
                                "flying_share", "dropout"}
    assert set(d["body"]) >= {"cardiac_pp_mm", "heart_rate_bpm", "sighs_per_h", "swallows_per_h",
                              "twitches_per_h", "blanket_gain", "blanket_tau_s"}
    sa, sb = build_scene(a), build_scene(b)
    assert np.array_equal(sa.surface_mm, sb.surface_mm)


@pytest.mark.parametrize("fps", [6, 15, 30])
def test_a_matrix_scene_renders_at_the_frame_rate_asked_with_the_same_story(fps):
    spec = draw_scene(11)
    slow, scene = build_scene(spec, 6), build_scene(spec, fps)
    assert [(s["pattern"], s["start_s"], s["end_s"]) for s in scene.timeline.segments] == \
        [(s["pattern"], s["start_s"], s["end_s"]) for s in slow.timeline.segments]
    assert scene.timeline.frame_count / fps == pytest.approx(slow.timeline.frame_count / 6, abs=0.5)
    assert len(scene.surface_mm) == scene.timeline.frame_count
    rendered = frames(scene, 212, 120)
    (t0, first), (t1, _) = next(rendered), next(rendered)
    assert t1 - t0 == pytest.approx(1.0 / fps) and first.shape == (120, 212)


def test_blanket_damps_and_delays_the_surface_motion():
    fps = 30
    t = np.arange(60 * fps) / fps
    breathing = 3.0 * (1 - np.cos(2 * np.pi * 0.5 * t))
    bare = BodyKnobs(0.0, 60.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0)
    covered = dataclasses.replace(bare, blanket_gain=0.6, blanket_tau_s=0.3)
    none = np.zeros(len(t), dtype=bool)
    x0, _ = add_body_motion(breathing, fps, bare, none, 6.0, np.random.default_rng(1))
    x1, _ = add_body_motion(breathing, fps, covered, none, 6.0, np.random.default_rng(1))
    tail = slice(10 * fps, None)
    assert np.allclose(x0, breathing)
    # First-order lag at 0.5 Hz: gain 0.6 / sqrt(1 + (2 pi 0.5 0.3)^2), delay of about 0.2 s.
    expected = 0.6 / np.sqrt(1 + (2 * np.pi * 0.5 * 0.3) ** 2)
    assert np.ptp(x1[tail]) / np.ptp(x0[tail]) == pytest.approx(expected, rel=0.05)
    lag = np.argmax(np.correlate(x1[tail] - x1[tail].mean(), x0[tail] - x0[tail].mean(), "full")) - (len(t[tail]) - 1)
    assert 0.1 * fps <= lag <= 0.3 * fps
