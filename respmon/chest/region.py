"""Chest region from depth alone, and the block grid it is searched on.

Every frame is reduced to a coarse grid of block means (a few thousand blocks, whatever the
resolution), which is cheap and averages the per-pixel noise down. The chest region is the set of
blocks that move together, in phase, at one breathing frequency over the last seconds: the torso
under a blanket qualifies, while the head, arms, pillow and bedding do not move with breathing and
noisy edge blocks (flying pixels) are not coherent. Each step is a function of arrays.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

from respmon.chest.grid_ops import box3_sum, dilate, label4, label_sums

TARGET_SMALL_WIDTH = 212  # blocks are BLOCK of these wide: stride * BLOCK full-resolution pixels
BLOCK = 4  # block side in sampled pixels
SEARCH_BAND_BPM = (4.0, 60.0)
MIN_COHERENCE = 0.55  # share of a block's breathing-band power at the breathing frequency (noise: about 0.2)
MIN_PHASE_COS = 0.5  # within ±60° of the chest's phase: in phase with it
MIN_BLOCK_AMPLITUDE_MM = 0.3
MIN_REGION_BLOCKS = 4
PEAK_VOTE_SNR = 8.0  # a block votes for a frequency where its power is this far above its floor
MIN_PEAK_SNR = 6.0  # peak power over the noise floor per bin; noise alone: P(>= 6) ~ 1e-5
STILL_MARGIN_BLOCKS = 2  # reference blocks keep this far from the chest (the abdomen breathes too)
STILL_DEPTH_RANGE_MM = 400.0  # ...and lie within this of the chest's depth: the bed, not the floor
OWN_SNR = 1.5  # a block's own in-phase motion must stand this many of its noise sigmas out
MIN_VALID_SHARE = 0.8  # a block must have depth in this share of the frames to be considered
COARSER = (2, 3)  # the coarser grids also searched: groups of k x k blocks
MIN_COARSE_SIDE = 8  # a coarse grid keeps at least this many groups a side
COARSE_SNR_GAIN = 1.5  # a coarser region replaces a finer one when its signal's SNR is this much higher


def sampling_stride(width: int) -> int:
    return max(1, int(round(width / TARGET_SMALL_WIDTH)))


def block_means(depth_raw: np.ndarray, stride: int, block: int = BLOCK) -> np.ndarray:
    """Mean of the valid (non-zero) pixels in each block of (stride * block)² full-resolution
    pixels, in depth units; NaN where none.

    Every pixel counts: a real D4xx pixel is noisy (several mm at 1-2 m), and averaging all of a
    block's pixels instead of a sampled quarter of them halves the block's noise.
    """
    side = stride * block
    h = (depth_raw.shape[0] // side) * side
    w = (depth_raw.shape[1] // side) * side
    # Whole rows first (a reduction over the middle axis adds rows at once), then each block's
    # columns: 4-5 times faster than one reduction over both block axes, and the same sums
    # (exact integers: a block of up to 256x256 uint16 depths fits in uint32).
    rows = depth_raw[:h, :w].reshape(h // side, side, w)
    sums = rows.sum(axis=1, dtype=np.uint32).reshape(h // side, w // side, side).sum(axis=2)
    counts = (rows != 0).sum(axis=1, dtype=np.uint32).reshape(h // side, w // side, side).sum(axis=2)
    with np.errstate(invalid="ignore", divide="ignore"):
        return sums.astype(np.float32) / counts.astype(np.float32)  # 0/0 → NaN: blocks with no depth


def block_box_px(mask: np.ndarray, stride: int, block: int = BLOCK) -> list[int]:
    """Bounding box [x0, y0, x1, y1) in full-resolution pixels of the True blocks."""
    ys, xs = np.nonzero(mask)
    side = stride * block
    return [int(xs.min()) * side, int(ys.min()) * side, (int(xs.max()) + 1) * side, (int(ys.max()) + 1) * side]


def blocks_in_box(shape: tuple[int, int], box_px: tuple[int, int, int, int], stride: int,
                  block: int = BLOCK) -> np.ndarray:
    """Blocks whose centre lies inside a full-resolution pixel box (a fixed region from config)."""
    side = stride * block
    cy = (np.arange(shape[0]) + 0.5) * side
    cx = (np.arange(shape[1]) + 0.5) * side
    x0, y0, x1, y1 = box_px
    return ((cy >= y0) & (cy < y1))[:, None] & ((cx >= x0) & (cx < x1))[None, :]


def _block_noise_mm(series: np.ndarray) -> np.ndarray:
    """Each block's frame-to-frame noise sigma, from second differences (blind to breathing)."""
    d2 = np.diff(series, n=2, axis=0)
    mad = np.median(np.abs(d2 - np.median(d2, axis=0)), axis=0)
    return np.maximum(1.4826 * mad / np.sqrt(6.0), 1e-6)


MIN_COMMON_BLOCKS = 20  # quiet blocks needed to measure the scene's common motion


def remove_common_motion(series: np.ndarray, quiet: np.ndarray) -> np.ndarray:
    """Each frame's blocks less the median of the quiet ones: what the whole scene moved together.

    series: (frames, blocks), each block's mean removed; quiet: the blocks that show no breathing.
    A D4xx's whole depth image jitters and wanders together from frame to frame
    (Halmetschlager-Funek et al. 2019); that common part is the same in every block, so pooling
    neighbours cannot average it out, and it can outweigh a far chest's breathing. The median is
    taken over blocks that do not breathe, so that a chest filling much of a near scene does not
    take its own breathing out.
    """
    if quiet.sum() < MIN_COMMON_BLOCKS:
        return series
    return series - np.median(series[:, quiet], axis=1, keepdims=True)


def _no_peak(series: np.ndarray, usable: np.ndarray, window: np.ndarray, band: np.ndarray) -> np.ndarray:
    """Blocks whose pooled spectrum has no bin PEAK_VOTE_SNR above its floor in the band."""
    pooled = _pool_neighbours(series, _block_noise_mm(series), usable)
    power = np.abs(np.fft.rfft(pooled * window, axis=0))[band] ** 2
    return power.max(axis=0) < PEAK_VOTE_SNR * np.median(power, axis=0) / np.log(2.0)


def _pool_neighbours(series: np.ndarray, noise: np.ndarray, usable: np.ndarray) -> np.ndarray:
    """Each usable block's series averaged with its 3x3 neighbours, weighted by inverse noise
    variance: the chest spans many blocks, so this lifts its breathing out of a noisy camera's
    per-block noise (about 3x in amplitude), while a flying-pixel block adds almost nothing."""
    frames = series.shape[0]
    weight = np.zeros(usable.shape)
    weight[usable] = 1.0 / noise**2
    grid = np.zeros((frames,) + usable.shape)
    grid[:, usable] = series * weight[usable]
    num = box3_sum(grid)
    den = box3_sum(weight)
    return num[:, usable] / den[usable]


@dataclass(frozen=True)
class ChestRegion:
    mask: np.ndarray  # bool, block grid
    weights: np.ndarray  # float, block grid, sums to 1 over the mask
    frequency_hz: float
    amplitude_mm: float  # breathing amplitude (peak) of the strongest blocks
    # Blocks near the chest's depth that do not breathe (bed, pillow, blanket over the legs): what
    # they move in a frame is the camera's, not the body's. None: no reference (a fixed box).
    still_mask: np.ndarray | None = None


def coarsen(stack_mm: np.ndarray, k: int) -> np.ndarray:
    """Each k x k group of blocks as one block (the mean of those with depth); the grid's edge
    rows and columns that do not fill a group are dropped."""
    frames, rows, cols = stack_mm.shape
    r, c = rows // k * k, cols // k * k
    groups = stack_mm[:, :r, :c].reshape(frames, r // k, k, c // k, k)
    with np.errstate(invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN groups stay NaN
        return np.nanmean(groups, axis=(2, 4))


def _refine(region: ChestRegion, k: int, shape: tuple[int, int]) -> ChestRegion:
    """A region found on a grid coarsened by k, on the fine grid of `shape`."""
    def up(grid: np.ndarray) -> np.ndarray:
        fine = np.kron(grid, np.ones((k, k), dtype=grid.dtype))
        out = np.zeros(shape, dtype=grid.dtype)
        out[:fine.shape[0], :fine.shape[1]] = fine
        return out

    weights = up(region.weights)
    return ChestRegion(up(region.mask), weights / weights.sum(), region.frequency_hz, region.amplitude_mm,
                       None if region.still_mask is None else up(region.still_mask))


def find_chest_region(stack_mm: np.ndarray, fps: float, within: np.ndarray | None = None) -> ChestRegion | None:
    """The largest connected set of blocks breathing coherently and in phase, or None.

    stack_mm: (frames, rows, cols) block means in mm, NaN where a block had no depth;
    within: blocks the chest may be in (a refresh looks only around the chest it tracks).

    The search runs on the block grid and on coarser grids (COARSER): a far chest seen by a noisy
    camera breathes less than one block's noise, and only the mean of many blocks shows it all.
    The finest region found is kept unless a coarser one's chest signal has COARSE_SNR_GAIN times
    its SNR; the region is given on the block grid.
    """
    candidates = [_find_on_grid(stack_mm, fps, within)]
    for k in COARSER:
        if min(stack_mm.shape[1:]) < k * MIN_COARSE_SIDE:
            break
        coarse_within = None if within is None else coarsen(within[None].astype(float), k)[0] > 0
        found = _find_on_grid(coarsen(stack_mm, k), fps, coarse_within)
        if found is not None:
            candidates.append(_refine(found, k, stack_mm.shape[1:]))
    candidates = [c for c in candidates if c is not None]
    if len(candidates) <= 1:
        return candidates[0] if candidates else None
    # A fine grid can find a fragment of a faint chest, a coarse one all of it with some of its
    # surroundings (its outline is coarse): the finest region is kept unless a coarser one gives a
    # chest signal clearly further out of its noise.
    best, best_snr = candidates[0], region_snr(stack_mm, candidates[0], fps)
    for region in candidates[1:]:
        snr = region_snr(stack_mm, region, fps)
        if snr > COARSE_SNR_GAIN * best_snr:
            best, best_snr = region, snr
    return best


def region_snr(stack_mm: np.ndarray, region: ChestRegion, fps: float) -> float:
    """Breathing amplitude over noise of the chest signal the region gives (the weighted mean of
    its blocks less the mean of its still blocks, as the chest stage reads it)."""
    chest = stack_mm[:, region.mask]
    weights = np.where(np.isfinite(chest), region.weights[region.mask], 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        x = np.nansum(np.nan_to_num(chest) * weights, axis=1) / weights.sum(axis=1)
    if region.still_mask is not None and region.still_mask.any():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            x = x - np.nanmean(stack_mm[:, region.still_mask], axis=1)
    ok = np.isfinite(x)
    if ok.sum() < 8:
        return 0.0
    t = np.flatnonzero(ok) / fps
    phase = 2.0 * np.pi * region.frequency_hz * t
    design = np.column_stack([np.cos(phase), np.sin(phase), np.ones_like(t), t - t.mean()])
    coef, *_ = np.linalg.lstsq(design, x[ok], rcond=None)
    noise = float(_block_noise_mm(x[ok][:, None])[0])
    return float(np.hypot(coef[0], coef[1]) / noise)


def _find_on_grid(stack_mm: np.ndarray, fps: float, within: np.ndarray | None = None) -> ChestRegion | None:
    frames = stack_mm.shape[0]
    if frames < 4 * fps:
        return None
    valid_share = np.mean(np.isfinite(stack_mm), axis=0)
    usable = valid_share >= MIN_VALID_SHARE
    if not usable.any():
        return None
    series = stack_mm[:, usable].astype(np.float64)  # (frames, blocks)
    fill = np.nanmedian(series, axis=0)
    series = np.where(np.isfinite(series), series, fill)
    t = np.arange(frames) - (frames - 1) / 2.0
    series -= series.mean(axis=0)
    series -= np.outer(t, t @ series / (t @ t))  # remove each block's linear drift
    freqs = np.fft.rfftfreq(frames, d=1.0 / fps)
    band = (freqs >= SEARCH_BAND_BPM[0] / 60.0) & (freqs <= SEARCH_BAND_BPM[1] / 60.0)
    if band.sum() < 2:
        return None
    window = np.hanning(frames)[:, None]
    # What the whole scene moved together, measured on the blocks that show no breathing of
    # their own (a near chest can be a large share of the scene): those without a peak either as
    # they are or less the scene's median (a strong common wobble peaks in every block).
    quiet = _no_peak(series, usable, window, band) | _no_peak(series - np.median(series, axis=1, keepdims=True),
                                                              usable, window, band)
    series = remove_common_motion(series, quiet)
    noise = _block_noise_mm(series)
    pooled = _pool_neighbours(series, noise, usable)
    spectrum = np.fft.rfft(pooled * window, axis=0)
    own = np.fft.rfft(series * window, axis=0)
    power = np.abs(spectrum) ** 2
    # Coherence is the share of a block's breathing-band power, not of all its power: the
    # noise above the band (most of a noisy camera's) says nothing about whether it breathes.
    total = power[band].sum(axis=0)
    # The breathing frequency: where the blocks' spectra, each scaled to unit power, pile up.
    # Scaling matters: edge blocks full of flying pixels carry the most raw power, all of it noise,
    # while each chest block puts most of its own power at the one breathing frequency.
    with np.errstate(invalid="ignore", divide="ignore"):
        shares = np.where(total > 0, power / total, 0.0)
    # Each block's noise floor per bin: the median band bin (an exponential's median is ln 2 of
    # its mean); the breathing peak occupies only a few of the band's bins.
    floor = np.median(power[band], axis=0) / np.log(2.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        bin_snr = np.where(floor > 0, power / floor, 0.0)
    # The breathing frequency is the one at which the most blocks stand far above their floor
    # (noise alone: 0.4 % of blocks per bin), ties broken by the piled-up shares. Summing the
    # shares alone lets the mass of noise blocks, each a little higher at one frequency, outvote
    # a chest of a few dozen blocks.
    # Only blocks where the chest may be vote; all blocks stay in the analysis (the still ones
    # around the chest are its reference).
    candidate = np.ones(int(usable.sum()), dtype=bool) if within is None else within[usable]
    if not candidate.any():
        return None
    votes = ((bin_snr[band][:, candidate] >= PEAK_VOTE_SNR).sum(axis=1)
             + shares[band][:, candidate].sum(axis=1) / (shares.shape[1] + 1.0))
    peak = int(np.flatnonzero(band)[np.argmax(votes)])
    near = slice(max(peak - 1, 1), peak + 2)
    coherence = shares[near].sum(axis=0)
    # Or the peak stands far above the block's own noise floor: unlike the share, this grows
    # with the length of the window, so a noisy camera's chest is found in 30 s if not in 15.
    peak_snr = bin_snr[near].mean(axis=0)
    coherent = (coherence >= MIN_COHERENCE) | (peak_snr >= MIN_PEAK_SNR)
    if not (coherent & candidate).any():
        return None
    # Each coherent block votes for the chest's phase with a unit phasor: a few loud blocks
    # (flying pixels that happen to look coherent) must not outvote the many chest blocks.
    coefficient = spectrum[peak]
    phasors = coefficient[coherent & candidate]
    reference = np.sum(phasors / (np.abs(phasors) + 1e-12))
    reference /= np.abs(reference) + 1e-12
    cos_phase = np.real(coefficient * np.conj(reference)) / (np.abs(coefficient) + 1e-12)
    # A block's own motion in the chest's phase at the breathing frequency (mm, peak; Hann
    # window gain 0.5), and what its own noise makes of that projection: pooling found the
    # breathing, each block must still show it itself, so the region does not spread onto the
    # still neighbours of the chest.
    in_phase = 2.0 * np.real(own[peak] * np.conj(reference)) / (0.5 * frames)
    in_phase_noise = noise * np.sqrt(3.0 / frames)
    selected = coherent & candidate & (cos_phase >= MIN_PHASE_COS) & (
        in_phase >= np.maximum(MIN_BLOCK_AMPLITUDE_MM, OWN_SNR * in_phase_noise))
    grid = np.zeros(stack_mm.shape[1:], dtype=bool)
    grid[usable] = selected
    labels, count = label4(grid)
    if count == 0:
        return None
    amplitude_grid = np.zeros(grid.shape)
    amplitude_grid[usable] = np.maximum(in_phase, 0.0)
    # The region that carries the most breathing motion, not merely the largest.
    scores = label_sums(amplitude_grid, labels, count)
    best = int(np.argmax(scores)) + 1
    mask = labels == best
    if mask.sum() < MIN_REGION_BLOCKS:
        return None
    # Weights for the best signal to noise: each block's breathing over its noise variance.
    noise_grid = np.full(grid.shape, np.inf)
    noise_grid[usable] = noise
    weights = np.where(mask, amplitude_grid / noise_grid**2, 0.0)
    weights /= weights.sum()
    depth = np.full(grid.shape, np.nan)
    depth[usable] = np.nanmedian(stack_mm[:, usable], axis=0)
    quiet = np.zeros(grid.shape, dtype=bool)
    quiet[usable] = ~coherent & (peak_snr < MIN_PEAK_SNR / 2) & (np.abs(in_phase) < 2.0 * in_phase_noise)
    still = quiet & ~dilate(mask, STILL_MARGIN_BLOCKS)
    still &= np.abs(depth - np.median(depth[mask])) <= STILL_DEPTH_RANGE_MM
    if still.any():
        still &= noise_grid <= 2.0 * np.median(noise_grid[still])  # not the flying-pixel edges
    return ChestRegion(mask, weights, float(freqs[peak]), float(np.max(amplitude_grid[mask])), still)
