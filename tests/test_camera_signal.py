"""The chest signal a camera gives (sim/camera_signal.py), the windows a scene's truth labels
(sim/truth.window_pattern), and the training set built from both."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from respmon.classify.data import SCENE_WINDOW_REPEAT, WINDOW_N, camera_window, training_set
from respmon.patterns import PATTERNS
from respmon.sim.body import BodyKnobs
from respmon.sim.camera_signal import CameraSignalKnobs, chest_noise_sigma_mm, through_camera
from respmon.sim.truth import window_pattern

STILL_BODY = BodyKnobs(cardiac_pp_mm=0.0, heart_rate_bpm=60.0, rr_cv=0.0, sighs_per_h=0.0, swallows_per_h=0.0,
                       twitches_per_h=0.0, blanket_gain=1.0, blanket_tau_s=0.0)


def knobs(**changes) -> CameraSignalKnobs:
    base = CameraSignalKnobs(distance_m=1.5, width_px=848, height_px=480, fps=30.0, subpixel_px=0.08, correlation_px=1.5,
                             frame_offset_share=0.04, jitter_residual_share=0.1, region_area_m2=0.08,
                             breathing_weight=1.0, body=STILL_BODY)
    return dataclasses.replace(base, **changes)


@settings(max_examples=40, deadline=None)
@given(z=st.floats(0.8, 2.5), width=st.sampled_from([424, 640, 848]), subpixel=st.floats(0.05, 0.12),
       area=st.floats(0.03, 0.15))
def test_the_chest_noise_grows_as_the_cube_of_distance(z, width, subpixel, area):
    # Per pixel z^2 (Intel's stereo error), and a region of fixed size covers 1/z^2 as many pixels.
    near = chest_noise_sigma_mm(knobs(distance_m=z, width_px=width, subpixel_px=subpixel, region_area_m2=area))
    far = chest_noise_sigma_mm(knobs(distance_m=2 * z, width_px=width, subpixel_px=subpixel, region_area_m2=area))
    assert far / near == pytest.approx(8.0, rel=0.02)


def test_more_frames_and_more_pixels_mean_less_noise():
    assert chest_noise_sigma_mm(knobs(fps=30.0)) == pytest.approx(chest_noise_sigma_mm(knobs(fps=15.0)) / np.sqrt(2))
    assert chest_noise_sigma_mm(knobs(region_area_m2=0.12)) < chest_noise_sigma_mm(knobs(region_area_m2=0.03))
    assert chest_noise_sigma_mm(knobs(width_px=848)) < chest_noise_sigma_mm(knobs(width_px=424, height_px=240))


def test_the_daemon_mode_at_2_m_has_about_a_millimetre_of_noise_per_frame():
    # Measured on the pipeline (an oracle mean over the true chest, 848x480 at 30 fps, dev scene at
    # 2.2 m): 1.25-1.33 mm per frame; the model for a typical camera and region is the same order.
    per_frame = chest_noise_sigma_mm(knobs(distance_m=2.2)) * np.sqrt(3.0)
    assert 0.6 < per_frame < 3.0


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 2**31), z=st.floats(0.8, 2.5))
def test_without_body_events_the_camera_adds_its_noise_and_nothing_else(seed, z):
    t = np.arange(WINDOW_N) / 10.0
    chest = 3.0 * np.sin(2 * np.pi * 0.25 * t)
    k = knobs(distance_m=z)
    out = through_camera(chest, k, np.random.default_rng(seed))
    residual = out - chest
    assert abs(residual.mean()) < 4 * chest_noise_sigma_mm(k) / np.sqrt(WINDOW_N)
    assert residual.std() == pytest.approx(chest_noise_sigma_mm(k), rel=0.15)


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 2**31), share=st.floats(0.2, 1.0))
def test_the_noise_is_capped_at_a_share_of_the_breathing_spread(seed, share):
    t = np.arange(WINDOW_N) / 10.0
    chest = 0.5 * np.sin(2 * np.pi * 0.25 * t)  # shallow breathing, a far camera: noise far above it
    k = knobs(distance_m=2.5, width_px=424, height_px=240, fps=15.0)
    assert chest_noise_sigma_mm(k) > 2.0
    out = through_camera(chest, k, np.random.default_rng(seed), max_noise_share=share)
    spread = np.percentile(chest, 95) - np.percentile(chest, 5)
    assert (out - chest).std() == pytest.approx(share * spread, rel=0.15)


def test_a_blanket_damps_the_breathing_the_camera_sees():
    t = np.arange(WINDOW_N) / 10.0
    chest = 4.0 * np.sin(2 * np.pi * 0.25 * t)
    covered = dataclasses.replace(STILL_BODY, blanket_gain=0.5, blanket_tau_s=0.3)
    out = through_camera(chest, knobs(distance_m=0.8, body=covered), np.random.default_rng(3))
    gain = np.dot(out - out.mean(), chest) / np.dot(chest, chest)
    assert 0.4 < gain < 0.5  # the gain, less what the lag takes out of phase


def test_camera_windows_are_windows_and_repeat_for_a_seed():
    for pattern in PATTERNS:
        for mode in ("authors", "physiological"):
            a = camera_window(pattern, np.random.default_rng(11), mode)
            b = camera_window(pattern, np.random.default_rng(11), mode)
            assert a.shape == (WINDOW_N,) and np.isfinite(a).all()
            assert np.array_equal(a, b)


def test_the_training_set_takes_the_scene_windows_repeated():
    rng = np.random.default_rng(5)
    scene_x = rng.normal(size=(4, WINDOW_N))
    scene_y = np.array([0, 5, 3, 1])
    x, y = training_set(10, 7, progress=False, scene_windows=(scene_x, scene_y))
    x0, y0 = training_set(10, 7, progress=False)
    assert len(x) == len(x0) + 4 * SCENE_WINDOW_REPEAT
    assert np.array_equal(x[:len(x0)], x0) and np.array_equal(y[:len(y0)], y0)
    assert list(y[len(y0):]) == list(np.repeat(scene_y, SCENE_WINDOW_REPEAT))
    assert np.allclose(x[len(x0)].std(), 1.0, atol=1e-3)  # normalised like the rest
    assert np.bincount(y0).tolist() == [30] * len(PATTERNS)  # three windows per pattern and draw


APNEA_SCENE = [
    {"pattern": "eupnea", "start_s": 0.0, "end_s": 80.0, "rate_bpm": 15.0},
    {"pattern": "central_apnea", "start_s": 80.0, "end_s": 120.0, "rate_bpm": None},
    {"pattern": "tachypnea", "start_s": 120.0, "end_s": 240.0, "rate_bpm": 30.0},
]


@pytest.mark.parametrize("t_end, expected", [
    (60.0, "eupnea"), (80.0, "eupnea"),  # inside the breathing
    (95.0, None),  # 15 s of apnea: not yet the central apnea class
    (100.0, "central_apnea"), (120.0, "central_apnea"),  # >= 20 s of apnea closing the window
    (150.0, None),  # the window starts in the apnea
    (179.0, None), (180.0, "tachypnea"), (240.0, "tachypnea"),
    (241.0, None),  # past the scene
])
def test_window_pattern_of_an_apnea_scene(t_end, expected):
    assert window_pattern(APNEA_SCENE, t_end) == expected


def test_window_pattern_of_hypopnea_and_periodic_breathing():
    scene = [{"pattern": "bradypnea", "start_s": 0.0, "end_s": 80.0, "rate_bpm": 8.0},
             {"pattern": "hypopnea", "start_s": 80.0, "end_s": 150.0, "rate_bpm": 8.0},
             {"pattern": "cheyne_stokes", "start_s": 150.0, "end_s": 400.0, "rate_bpm": 18.0},
             {"pattern": "motion", "start_s": 400.0, "end_s": 480.0, "rate_bpm": None}]
    assert window_pattern(scene, 145.0) == "bradypnea"  # a hypopnea is the breathing's own pattern
    assert window_pattern(scene, 300.0) == "cheyne_stokes"
    assert window_pattern(scene, 470.0) is None
    # The first 60 s of an apnea scene that starts in the apnea has no breathing before it.
    assert window_pattern([{"pattern": "central_apnea", "start_s": 0.0, "end_s": 90.0, "rate_bpm": None}], 60.0) is None


def test_resting_variability_widens_breath_to_breath_depth_and_timing():
    from scipy.signal import find_peaks

    from respmon.sim.rsm_physiological import physiological_components

    def cvs(breath_cv):
        x = physiological_components("eupnea", np.random.default_rng(8), duration_s=600.0, rate_hz=10.0,
                                     rate_bpm=15.0, artefacts=False, breath_cv=breath_cv).breathing_mm
        peaks, props = find_peaks(x, height=0.2 * x.max(), distance=15)
        heights, gaps = props["peak_heights"], np.diff(peaks)
        return heights.std() / heights.mean(), gaps.std() / gaps.mean()

    depth_still, period_still = cvs((0.0, 0.0))
    depth_cv, period_cv = cvs((0.25, 0.35))
    assert depth_still < 0.01 and period_still < 0.05
    # Peak-to-peak gaps vary less than the periods drawn: neighbouring periods are anti-correlated
    # (sim/rsm_physiological._jitter) and the inhale scales with its own period.
    assert 0.25 < depth_cv < 0.45 and 0.1 < period_cv < 0.35
