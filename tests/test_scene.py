"""The synthetic bed scene: geometry, breathing motion, D4xx-like noise, events."""

from __future__ import annotations

import time

import numpy as np
import pytest
from scipy import ndimage

from respmon.sim.scene import HEAD, LEGS, MATTRESS, BedScene

W, H = 212, 120  # small, but the same FOV as 424x240


@pytest.fixture(scope="module")
def scene() -> BedScene:
    return BedScene(W, H, distance_m=1.2, seed=3)


def _flat_mattress(scene: BedScene) -> np.ndarray:
    return ndimage.binary_erosion(scene.labels == MATTRESS, iterations=3)


def _temporal_sigma_mm(scene: BedScene, mask: np.ndarray, n_frames: int = 30) -> float:
    stack = np.stack([scene.render(0.0) for _ in range(n_frames)]).astype(np.float64)
    valid = mask & (stack > 0).all(axis=0)
    return float(np.median(stack[:, valid].std(axis=0, ddof=1)))


def test_intrinsics_d435_like():
    k = BedScene(424, 240).intrinsics
    assert (k.width, k.height) == (424, 240)
    hfov_deg = np.degrees(2 * np.arctan(k.width / 2 / k.fx))
    assert 85.0 < hfov_deg < 89.0
    assert k.fx == k.fy
    assert k.ppx == pytest.approx(211.5) and k.ppy == pytest.approx(119.5)


def test_frame_is_uint16_mm_with_mattress_at_distance(scene):
    frame = scene.render(0.0)
    assert frame.dtype == np.uint16 and frame.shape == (H, W)
    mattress = _flat_mattress(scene) & (frame > 0)
    # Looking straight down, the mattress top is a plane at the aim distance.
    assert np.mean(frame[mattress]) == pytest.approx(1200.0, abs=1.0)
    assert np.allclose(scene.clean_depth_mm(0.0)[mattress], 1200.0, atol=0.01)


def test_quantised_to_whole_mm_but_unbiased(scene):
    mattress = _flat_mattress(scene)
    clean = scene.clean_depth_mm(0.0)
    frames = np.stack([scene.render(0.0) for _ in range(20)]).astype(np.float64)
    px = mattress & (frames > 0).all(axis=0)
    assert len(np.unique(frames[:, px])) > 5  # noise spreads the values over several whole mm
    # Averaging many quantised noisy samples recovers the sub-mm clean depth.
    assert np.mean(frames[:, px]) == pytest.approx(np.mean(clean[px]) + scene.drift_mm(0.0), abs=0.1)


def test_noise_grows_with_distance_squared():
    near = BedScene(W, H, distance_m=1.0, seed=1)
    far = BedScene(W, H, distance_m=1.6, seed=1)
    sigma_near = _temporal_sigma_mm(near, _flat_mattress(near))
    sigma_far = _temporal_sigma_mm(far, _flat_mattress(far))
    assert 1.0 <= sigma_near <= 2.0
    assert sigma_far / sigma_near == pytest.approx((1.6 / 1.0) ** 2, rel=0.12)


def test_invalid_pixels_few_and_mostly_at_edges_and_far_floor(scene):
    frames = np.stack([scene.render(0.0) for _ in range(10)])
    zero = frames == 0
    assert 0.005 < zero.mean() < 0.10
    clean = scene.clean_depth_mm(0.0)
    edges = (ndimage.maximum_filter(clean, 3) - ndimage.minimum_filter(clean, 3)) > 40
    flat = _flat_mattress(scene)
    assert zero[:, edges].mean() > 5 * zero[:, flat].mean()


def test_flying_pixels_between_foreground_and_background(scene):
    clean = scene.clean_depth_mm(0.0)
    near = ndimage.minimum_filter(clean, 3)
    far = ndimage.maximum_filter(clean, 3)
    edges = (far - near) > 100
    frame = scene.render(0.0).astype(np.float32)
    valid = edges & (frame > 0)
    between = (frame > near + 20) & (frame < far - 20)
    # In the clean image an edge pixel is at one of the two sides; flying pixels land in between.
    assert between[valid].mean() > 0.1


def test_chest_moves_with_displacement_head_and_legs_do_not(scene):
    mask = scene.chest_mask
    assert mask.sum() > 200
    moved = scene.clean_depth_mm(5.0) - scene.clean_depth_mm(0.0)
    assert np.all(moved[mask] <= -2.5)
    assert moved.min() == pytest.approx(-5.0, abs=1e-3)  # the chest centre follows it fully
    assert np.all(moved[scene.labels == HEAD] == 0.0)
    assert np.all(moved[scene.labels == LEGS] == 0.0)
    # Same in the noisy frames, on average.
    rest, risen = (scene.render(d).astype(np.float64) for d in (0.0, 6.0))
    valid = mask & (rest > 0) & (risen > 0)
    expected = -6.0 * float(np.mean(scene.breathing_weight[valid]))
    assert np.mean(risen[valid] - rest[valid]) == pytest.approx(expected, abs=0.3)


def test_absent_person_leaves_the_flat_bed(scene):
    present = scene.clean_depth_mm(0.0)
    absent = scene.clean_depth_mm(0.0, present=False)
    chest = scene.chest_mask
    assert np.mean(absent[chest]) > np.mean(present[chest]) + 150.0
    # Only the flattened blanket (15 mm plus a few mm of wrinkles) above the mattress remains.
    assert np.all(np.abs(absent[chest] - 1200.0) < 50.0)
    moved = scene.clean_depth_mm(5.0, present=False) - absent
    assert np.all(moved == 0.0)


def test_pose_shift_moves_the_torso(scene):
    def body_centroid_px(depth):
        body = (depth > 0) & (depth < 1120.0)  # everything well above the mattress
        rows, cols = np.nonzero(body)
        return rows.mean(), cols.mean()

    base = body_centroid_px(scene.clean_depth_mm(0.0))
    shifted = body_centroid_px(scene.clean_depth_mm(0.0, pose_mm=(50.0, 0.0, 0.0)))
    k = scene.intrinsics
    expected_px = 50.0 * k.fx / 1100.0  # world +X is image -x (the camera looks down)
    assert shifted[1] - base[1] == pytest.approx(-expected_px, rel=0.3)
    assert shifted[0] == pytest.approx(base[0], abs=1.0)
    raised = scene.clean_depth_mm(0.0, pose_mm=(0.0, 0.0, 20.0))
    chest = scene.chest_mask
    # Not exactly 20 mm: off-axis rays meet the raised, curved chest at a slightly different spot.
    assert np.median(raised[chest] - scene.clean_depth_mm(0.0)[chest]) == pytest.approx(-20.0, abs=2.0)


def test_slow_drift_is_sub_mm(scene):
    drift = np.array([scene.drift_mm(t) for t in np.arange(0.0, 600.0, 1.0)])
    assert np.abs(drift).max() <= 0.3 + 1e-9
    assert np.abs(np.diff(drift)).max() < 0.01  # per second
    assert drift.max() - drift.min() > 0.2  # but it does move over minutes


def test_tilted_camera_still_sees_the_chest():
    tilted = BedScene(W, H, distance_m=1.4, tilt_deg=30.0, seed=2)
    assert tilted.chest_mask.sum() > 100
    clean = tilted.clean_depth_mm(0.0)
    # Tilted, the far floor is deeper than it is looking straight down.
    assert clean.max() > 2500.0
    assert tilted.render(3.0).dtype == np.uint16


def test_same_seed_same_frames():
    a, b = BedScene(W, H, seed=7), BedScene(W, H, seed=7)
    assert np.array_equal(a.render(1.0), b.render(1.0))


def test_render_is_fast():
    scene = BedScene(424, 240, seed=0)
    scene.render(0.0)
    t0 = time.perf_counter()
    for i in range(100):
        scene.render(float(i % 7), t_s=i / 15)
    assert (time.perf_counter() - t0) / 100 < 0.015  # ~1-2 ms here; 2700 frames must take seconds
