from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from scipy import ndimage

from respmon.chest.front import DepthFrontEnd
from respmon.chest.motion import motion_fraction
from respmon.chest.region import (
    block_means,
    blocks_in_box,
    coarsen,
    find_chest_region,
    remove_common_motion,
)
from respmon.config import parse_config

FPS = 5.0


def _stack(seconds=20.0, bpm=15.0, amplitude_mm=3.0, noise_mm=0.5, seed=0, chest=(slice(10, 16), slice(20, 30))):
    """A 30x53 block scene: flat bed at 1200 mm, a chest patch breathing, noisy edge blocks."""
    rng = np.random.default_rng(seed)
    n = int(seconds * FPS)
    t = np.arange(n) / FPS
    stack = 1200.0 + rng.normal(0, noise_mm, (n, 30, 53))
    stack[:, chest[0], chest[1]] -= 150.0 + amplitude_mm * np.sin(2 * np.pi * bpm / 60 * t)[:, None, None]
    stack[:, 5, :] += rng.normal(0, 40.0, (n, 53))  # a row of flying-pixel blocks: loud, incoherent
    stack[:, 0, :3] = np.nan  # blocks with no depth at all
    truth = np.zeros((30, 53), dtype=bool)
    truth[chest] = True
    return stack.astype(np.float32), truth


def _assert_chest(mask, truth):
    """The breathing blocks, give or take a few at the edge: nothing beyond one block around
    them, and at least 95 % of them."""
    assert not (mask & ~ndimage.binary_dilation(truth)).any()
    assert (mask & truth).sum() >= 0.95 * truth.sum()


@pytest.mark.parametrize("bpm", [6, 12, 20, 40, 60])
def test_finds_the_breathing_blocks_and_their_rate(bpm):
    stack, truth = _stack(bpm=bpm, seconds=30 if bpm < 10 else 15)
    region = find_chest_region(stack, FPS)
    assert region is not None
    _assert_chest(region.mask, truth)
    assert region.frequency_hz * 60 == pytest.approx(bpm, abs=4.5)
    assert region.weights.sum() == pytest.approx(1.0)
    assert np.all(region.weights[~region.mask] == 0)


def test_blocks_moving_in_antiphase_are_left_out():
    stack, truth = _stack(seconds=15)
    t = np.arange(stack.shape[0]) / FPS
    stack[:, 20:23, 20:30] += (3.0 * np.sin(2 * np.pi * 0.25 * t))[:, None, None]  # paradoxical abdomen
    region = find_chest_region(stack, FPS)
    assert region is not None
    _assert_chest(region.mask, truth)


def test_nothing_breathing_gives_no_region():
    stack, _ = _stack(amplitude_mm=0.0, seconds=15)
    assert find_chest_region(stack, FPS) is None
    assert find_chest_region(stack[:10], FPS) is None  # too short to judge


@settings(max_examples=10, deadline=None)
@given(st.integers(0, 2**31), st.sampled_from([9.0, 15.0, 24.0]))
def test_a_chest_fainter_than_one_blocks_noise_is_found_on_the_coarser_grid(seed, bpm):
    # Breathing of 0.6 mm under 3 mm of noise per block: no block shows it, and 3x3 pooling
    # neither (1 mm); the mean of 2x2 or 3x3 groups pooled with their neighbours does.
    chest = (slice(9, 18), slice(18, 30))
    stack, truth = _stack(seconds=30, bpm=bpm, amplitude_mm=0.6, noise_mm=3.0, seed=seed, chest=chest)
    region = find_chest_region(stack, FPS)
    assert region is not None
    assert region.frequency_hz * 60 == pytest.approx(bpm, abs=2.5)
    assert (region.mask & truth).sum() >= 0.9 * region.mask.sum()  # the chest...
    # ...and a good part of it: the block grid alone finds fragments of 4-7 blocks here.
    assert (region.mask & truth).sum() >= 0.25 * truth.sum()
    assert region.weights.sum() == pytest.approx(1.0) and np.all(region.weights[~region.mask] == 0)


@settings(max_examples=10, deadline=None)
@given(st.integers(0, 2**31))
def test_noise_and_a_common_wobble_give_no_region_on_any_grid(seed):
    # What a far, noisy camera sees of an empty bed (or a motionless chest): per-block noise and
    # the whole frame wobbling together, slowly, at a breathing-like frequency.
    stack, _ = _stack(seconds=30, amplitude_mm=0.0, noise_mm=3.0, seed=seed)
    t = np.arange(stack.shape[0]) / FPS
    stack += (2.0 * np.sin(2 * np.pi * 0.2 * t + seed % 7))[:, None, None].astype(np.float32)
    assert find_chest_region(stack, FPS) is None


def test_a_common_wobble_does_not_hide_a_chest():
    stack, truth = _stack(seconds=15, amplitude_mm=1.0, noise_mm=1.0)
    t = np.arange(stack.shape[0]) / FPS
    stack += (3.0 * np.sin(2 * np.pi * 0.13 * t))[:, None, None].astype(np.float32)
    region = find_chest_region(stack, FPS)
    assert region is not None
    assert region.frequency_hz * 60 == pytest.approx(15, abs=4.5)
    assert (region.mask & truth).sum() >= 0.8 * truth.sum()


def test_common_motion_is_measured_on_the_quiet_blocks_only():
    rng = np.random.default_rng(1)
    common = rng.normal(0, 1, 50)
    series = common[:, None] + rng.normal(0, 0.01, (50, 80))
    breathing = np.sin(np.arange(50) / 3.0)
    series[:, :45] += 5.0 * breathing[:, None]  # a chest filling more than half of the scene
    quiet = np.arange(80) >= 45
    out = remove_common_motion(series, quiet)
    assert np.allclose(out[:, 45:], 0.0, atol=0.05)
    assert np.allclose(out[:, :45], 5.0 * breathing[:, None], atol=0.05)
    assert remove_common_motion(series, np.zeros(80, dtype=bool)) is series  # too few quiet blocks


def test_coarsen_means_each_group_of_blocks_with_depth():
    stack = np.arange(2 * 5 * 7, dtype=float).reshape(2, 5, 7)
    stack[0, 0, 0] = np.nan
    out = coarsen(stack, 2)
    assert out.shape == (2, 2, 3)
    assert out[0, 0, 0] == pytest.approx(np.mean([1.0, 7.0, 8.0]))
    assert out[1, 1, 2] == pytest.approx(np.mean(stack[1, 2:4, 4:6]))


@pytest.mark.parametrize("fps", [6.0, 15.0, 30.0])
def test_the_scene_grid_is_the_mean_of_every_frame_of_its_interval(fps):
    # Independent pixel noise: the grids the search sees must carry 1/sqrt(frames per grid) of
    # one frame's block noise (a faster camera gives a quieter search), at the frames' mean time.
    front = DepthFrontEnd(parse_config(""), fps=fps, width=424)
    rng = np.random.default_rng(910_010)
    times, singles = [], []
    for i in range(int(fps * 40)):
        raw = np.rint(1500.0 + 40.0 * rng.standard_normal((240, 424))).astype(np.uint16)
        t = i / fps
        times.append(t)
        singles.append(block_means(raw, 2)[5, 7])
        front.process(t, raw, 1.0)
    grid_times = np.array([t for t, _ in front.history])
    grid_values = np.array([g[5, 7] for _, g in front.history])
    k = front.grid_step
    assert k == max(1, int(fps // 5))
    expected_t = np.array(times[: (len(times) // k) * k]).reshape(-1, k).mean(axis=1)
    assert np.allclose(grid_times, expected_t[-len(grid_times):])
    ratio = np.std(grid_values) / np.std(singles)
    assert ratio == pytest.approx(1 / np.sqrt(k), rel=0.25)


def test_a_grid_interval_does_not_average_across_a_gap_in_the_frames():
    front = DepthFrontEnd(parse_config(""), fps=30.0, width=424)
    assert front.grid_step == 6
    for i in range(4):  # part of an interval, then the camera stalls for 3 s
        front.process(i / 30.0, np.full((240, 424), 1500, dtype=np.uint16), 1.0)
    for i in range(6):  # the scene after the stall: the surface 100 mm nearer
        front.process(3.0 + i / 30.0, np.full((240, 424), 1400, dtype=np.uint16), 1.0)
    t_s, grid = front.history[-1]
    assert t_s == pytest.approx(3.0 + 2.5 / 30.0)
    assert np.allclose(grid, 1400.0)


def test_motion_fraction_counts_only_blocks_with_depth():
    change = np.array([[0.0, 50.0], [np.nan, 10.0]])
    assert motion_fraction(change, 25.0) == pytest.approx(1 / 3)
    assert motion_fraction(np.full((2, 2), np.nan), 25.0) == 0.0


def test_fixed_region_from_config_is_used_as_is():
    config = parse_config("region:\n  fixed_box_px: [160, 64, 240, 128]\n")
    front = DepthFrontEnd(config, fps=15.0, width=424)
    raw = np.full((240, 424), 1000, dtype=np.uint16)
    values = []
    for i in range(30):
        frame = raw.copy()
        frame[64:128, 160:240] -= np.uint16(i % 5)  # the box rises by 0..4 mm
        result = front.process(i / 15.0, frame, 1.0)
        values += [v for _, v in result.samples]
    assert front.region is not None
    assert np.array_equal(front.region.mask, blocks_in_box(front.region.mask.shape, (160, 64, 240, 128), 2))
    assert values[:5] == pytest.approx([0, 1, 2, 3, 4])


def test_fixed_region_outside_the_image_is_refused():
    config = parse_config("region:\n  fixed_box_px: [5000, 5000, 5100, 5100]\n")
    front = DepthFrontEnd(config, fps=15.0, width=424)
    with pytest.raises(Exception, match="outside the depth image"):
        front.process(0.0, np.full((240, 424), 1000, dtype=np.uint16), 1.0)


def test_a_region_that_stops_breathing_while_breathing_goes_on_elsewhere_is_left():
    # The tracked region goes still while another part of the scene breathes (the region was a
    # wrong one, or the chest moved too gently to count as motion): the refresh, finding no
    # breathing around the region, finds it elsewhere and the signal restarts there. Before,
    # refreshes looked only around the dead region, for ever.
    config = parse_config("")
    fps, width, height = 5.0, 212, 120
    front = DepthFrontEnd(config, fps=fps, width=width)
    rng = np.random.default_rng(3)
    a = (slice(40, 64), slice(60, 100))  # pixels (blocks of 4 x 4)
    b = (slice(40, 64), slice(140, 180))
    restarts_after_switch, region_at = [], {}
    for i in range(int(160 * fps)):
        t = i / fps
        frame = 1200.0 + rng.normal(0.0, 1.0, (height, width))
        breath = 3.0 * np.sin(2 * np.pi * 0.25 * t)
        frame[a] -= 150.0 + (breath if t < 40 else 0.0)
        frame[b] -= 150.0 + (breath if t >= 40 else 0.0)
        result = front.process(t, frame.astype(np.uint16), 1.0)
        if t > 40 and result.restart and result.samples:
            restarts_after_switch.append(t)
        if front.region is not None and i % int(fps) == 0:
            region_at[round(t)] = front.region.mask.copy()
    truth_a = np.zeros_like(region_at[30]); truth_a[10:16, 15:25] = True
    truth_b = np.zeros_like(region_at[30]); truth_b[10:16, 35:45] = True
    assert (region_at[30] & truth_a).sum() >= 0.8 * truth_a.sum()
    assert (region_at[159] & truth_b).sum() >= 0.8 * truth_b.sum()
    assert not (region_at[159] & truth_a).any()
    # Found at the first refresh that sees no breathing around A (refresh_s after it was found).
    assert restarts_after_switch and restarts_after_switch[0] <= 30 + config.region.refresh_s + 20


def test_a_coarse_outline_of_the_tracked_chest_is_the_same_chest():
    # A region found on a coarser grid is blocky and larger than the chest it contains; during a
    # pause, taking it for breathing "elsewhere" would restart the signal and hide the apnea.
    from respmon.chest.region import ChestRegion

    front = DepthFrontEnd(parse_config(""), fps=15.0, width=424)
    chest = np.zeros((30, 53), dtype=bool)
    chest[10:16, 20:28] = True
    front.region = ChestRegion(chest, chest / chest.sum(), 0.25, 2.0)
    coarse = np.zeros_like(chest)
    coarse[9:18, 18:30] = True  # 3x3 groups around it: 108 blocks, 48 of them the chest
    elsewhere = np.zeros_like(chest)
    elsewhere[10:16, 35:43] = True
    touching = np.zeros_like(chest)
    touching[10:16, 27:35] = True  # one column shared, the rest beside it
    assert front._same_chest(ChestRegion(coarse, coarse / coarse.sum(), 0.25, 1.0))
    assert not front._same_chest(ChestRegion(elsewhere, elsewhere / elsewhere.sum(), 0.25, 1.0))
    assert not front._same_chest(ChestRegion(touching, touching / touching.sum(), 0.25, 1.0))


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), height=st.integers(8, 260), width=st.integers(8, 500),
       stride=st.integers(1, 3), zeros=st.floats(0.0, 1.0), high=st.sampled_from([2000, 65535]))
def test_block_means_is_the_mean_of_each_blocks_valid_pixels(seed, height, width, stride, zeros, high):
    from respmon.chest.region import BLOCK

    rng = np.random.default_rng(seed)
    raw = rng.integers(1, high, (height, width), endpoint=True).astype(np.uint16)
    raw[rng.random((height, width)) < zeros] = 0
    side = stride * BLOCK
    got = block_means(raw, stride)
    assert got.shape == (height // side, width // side) and got.dtype == np.float32
    for by in range(got.shape[0]):
        for bx in range(got.shape[1]):
            tile = raw[by * side:(by + 1) * side, bx * side:(bx + 1) * side].astype(np.int64)
            valid = tile[tile != 0]
            if len(valid) == 0:
                assert np.isnan(got[by, bx])
            else:
                assert got[by, bx] == np.float32(np.float32(valid.sum()) / np.float32(len(valid)))
