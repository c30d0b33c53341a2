"""Body motion from the block grid: the scene-change measure that tells motion from breathing.

Each block's own typical change is learnt (mostly while still), so blocks on depth edges (flying pixels)
and noisy far-away surfaces do not pass for motion; one odd frame does not either.
"""

from __future__ import annotations

import numpy as np

NOISE_FACTOR = 4.0  # a block moves when it changes this many times its still-time change...
NOISE_LEARNING = 0.02  # ...learnt as an average over about 50 still frames
MOTION_FRAMES = 2  # grid frames in a row
MOVING_LEARNING_SHARE = 0.25  # while moving the noise is learnt this much slower
WARMUP_FRAMES = 10  # grid frames (about 2 s) that only learn the noise, before motion can be seen


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
        self.frames_seen = 0

    def moving(self, blocks_mm: np.ndarray, before_mm: np.ndarray, threshold_mm: float, share: float) -> bool:
        """This grid frame against the one a motion lag before: True while the body moves.

        threshold_mm: the least change that counts for a block, however quiet it is when still;
        share: the share of blocks that must change for a frame to count as moving.
        """
        change = np.abs(blocks_mm - before_mm)
        if self.block_noise_mm is None:
            self.block_noise_mm = np.where(np.isfinite(change), change, 0.0)
        self.frames_seen += 1
        threshold = np.maximum(threshold_mm, NOISE_FACTOR * self.block_noise_mm)
        fraction = motion_fraction(change, threshold)
        # The first frames only learn: one frame's change says little about a block's noise.
        moving_now = fraction > share and self.frames_seen > WARMUP_FRAMES
        self.moving_frames = self.moving_frames + 1 if moving_now else 0
        # Learnt on every frame, each block's change clipped at its threshold: a moving block
        # teaches at most that, so motion barely raises the noise, while a scene noisier than the
        # first frames showed (a far, noisy camera) is learnt within seconds instead of being
        # taken for motion for ever.
        learn = np.isfinite(change)
        # A running mean at first (every early frame counts alike), an EMA once there are enough.
        rate = max(NOISE_LEARNING, 1.0 / self.frames_seen)
        if self.moving_frames:
            rate *= MOVING_LEARNING_SHARE
        clipped = np.minimum(change[learn], threshold[learn])
        self.block_noise_mm[learn] += rate * (clipped - self.block_noise_mm[learn])
        return self.moving_frames >= MOTION_FRAMES
