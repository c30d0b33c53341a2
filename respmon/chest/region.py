"""Chest region from depth alone, and the block grid it is searched on.

Every frame is reduced to a coarse grid of block means (a few thousand blocks, whatever the
resolution), which is cheap and averages the per-pixel noise down. The chest region is the set of
blocks that move together, in phase, at one breathing frequency over the last seconds: the torso
under a blanket qualifies, while the head, arms, pillow and bedding do not move with breathing and
noisy edge blocks (flying pixels) are not coherent. Each step is a function of arrays.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

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
    tiles = depth_raw[:h, :w].reshape(h // side, side, w // side, side)
    sums = tiles.sum(axis=(1, 3), dtype=np.float32)
    counts = np.count_nonzero(tiles, axis=(1, 3)).astype(np.float32)
    with np.errstate(invalid="ignore", divide="ignore"):
        return sums / counts  # 0/0 → NaN for blocks with no depth at all


def block_pixel_index(mask: np.ndarray, stride: int, width: int, block: int = BLOCK) -> np.ndarray:
    """Flat indices into a full frame of the pixels of each True block: (blocks, (stride * block)²).

    The same pixels block_means averages, so the chest signal can be read from those few blocks
    on every frame without reducing the whole image.
    """
    side = stride * block
    rows, cols = np.nonzero(mask)
    offsets = np.arange(side)
    ys = rows[:, None] * side + offsets[None, :]
    xs = cols[:, None] * side + offsets[None, :]
    return (ys[:, :, None] * width + xs[:, None, :]).reshape(len(rows), side * side)


def selected_block_means(depth_raw: np.ndarray, index: np.ndarray) -> np.ndarray:
    """block_means for the blocks of a block_pixel_index only, in depth units; NaN where none."""
    values = np.ravel(depth_raw)[index]
    sums = values.sum(axis=1, dtype=np.float32)
    counts = np.count_nonzero(values, axis=1).astype(np.float32)
    with np.errstate(invalid="ignore", divide="ignore"):
        return sums / counts


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


def _pool_neighbours(series: np.ndarray, noise: np.ndarray, usable: np.ndarray) -> np.ndarray:
    """Each usable block's series averaged with its 3x3 neighbours, weighted by inverse noise
    variance: the chest spans many blocks, so this lifts its breathing out of a noisy camera's
    per-block noise (about 3x in amplitude), while a flying-pixel block adds almost nothing."""
    frames = series.shape[0]
    weight = np.zeros(usable.shape)
    weight[usable] = 1.0 / noise**2
    grid = np.zeros((frames,) + usable.shape)
    grid[:, usable] = series * weight[usable]
    num = ndimage.uniform_filter(grid, size=(1, 3, 3), mode="constant")
    den = ndimage.uniform_filter(weight, size=3, mode="constant")
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


def find_chest_region(stack_mm: np.ndarray, fps: float, within: np.ndarray | None = None) -> ChestRegion | None:
    """The largest connected set of blocks breathing coherently and in phase, or None.

    stack_mm: (frames, rows, cols) block means in mm, NaN where a block had no depth;
    within: blocks the chest may be in (a refresh looks only around the chest it tracks).
    """
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
    noise = _block_noise_mm(series)
    pooled = _pool_neighbours(series, noise, usable)
    window = np.hanning(frames)[:, None]
    spectrum = np.fft.rfft(pooled * window, axis=0)
    own = np.fft.rfft(series * window, axis=0)
    freqs = np.fft.rfftfreq(frames, d=1.0 / fps)
    band = (freqs >= SEARCH_BAND_BPM[0] / 60.0) & (freqs <= SEARCH_BAND_BPM[1] / 60.0)
    if band.sum() < 2:
        return None
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
    labels, count = ndimage.label(grid)
    if count == 0:
        return None
    amplitude_grid = np.zeros(grid.shape)
    amplitude_grid[usable] = np.maximum(in_phase, 0.0)
    # The region that carries the most breathing motion, not merely the largest.
    scores = ndimage.sum(amplitude_grid, labels, index=np.arange(1, count + 1))
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
    still = quiet & ~ndimage.binary_dilation(mask, iterations=STILL_MARGIN_BLOCKS)
    still &= np.abs(depth - np.median(depth[mask])) <= STILL_DEPTH_RANGE_MM
    if still.any():
        still &= noise_grid <= 2.0 * np.median(noise_grid[still])  # not the flying-pixel edges
    return ChestRegion(mask, weights, float(freqs[peak]), float(np.max(amplitude_grid[mask])), still)
