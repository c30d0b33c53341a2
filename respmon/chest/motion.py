"""Body motion from the block grid: the scene-change measure that tells motion from breathing.

Each block's own typical change is learnt while still, so blocks on depth edges (flying pixels)
and noisy far-away surfaces do not pass for motion; one odd frame does not either.
"""

from __future__ import annotations

import numpy as np

NOISE_FACTOR = 3.0  # a block moves when it changes this many times its still-time change...
NOISE_LEARNING = 0.02  # ...learnt as an average over about 50 still frames
MOTION_FRAMES = 2  # grid frames in a row


def motion_fraction(change_mm: np.ndarray, threshold_mm: np.ndarray | float) -> float:
    """Share of blocks (with depth now and before) whose depth changed by more than the threshold."""
    valid = np.isfinite(change_mm)
    n = int(valid.sum())
    if n == 0:
        return 0.0
    over = valid & (np.where(valid, change_mm, 0.0) > threshold_mm)
    return float(np.count_nonzero(over) / n)


class MotionDetector:
    """Body motion: many blocks changed far more than they do when still, MOTION_FRAMES running."""

    def __init__(self) -> None:
        self.block_noise_mm: np.ndarray | None = None  # typical 1 s change of each block when still
        self.moving_frames = 0

    def moving(self, blocks_mm: np.ndarray, before_mm: np.ndarray, threshold_mm: float, share: float) -> bool:
        """This grid frame against the one a motion lag before: True while the body moves.

        threshold_mm: the least change that counts for a block, however quiet it is when still;
        share: the share of blocks that must change for a frame to count as moving.
        """
        change = np.abs(blocks_mm - before_mm)
        if self.block_noise_mm is None:
            self.block_noise_mm = np.where(np.isfinite(change), change, 0.0)
        threshold = np.maximum(threshold_mm, NOISE_FACTOR * self.block_noise_mm)
        fraction = motion_fraction(change, threshold)
        self.moving_frames = self.moving_frames + 1 if fraction > share else 0
        if self.moving_frames == 0:
            learn = np.isfinite(change)
            self.block_noise_mm[learn] += NOISE_LEARNING * (change[learn] - self.block_noise_mm[learn])
        return self.moving_frames >= MOTION_FRAMES
