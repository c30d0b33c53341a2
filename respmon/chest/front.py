"""The chest stage per frame: depth frame in, chest displacement samples and the frame state out.

    depth frame → block grid → motion / chest region / presence → chest displacement (mm)

Times are seconds of source time (frame timestamps), never wall-clock.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass
from types import SimpleNamespace

import numpy as np

from respmon.chest.grid_ops import dilate
from respmon.chest.motion import MotionDetector
from respmon.chest.region import (
    ChestRegion,
    block_box_px,
    block_means,
    blocks_in_box,
    find_chest_region,
    sampling_stride,
)
from respmon.errors import UsageError

MOTION_LAG_S = 1.0  # motion compares each frame with the scene this long before
GRID_RATE_HZ = 5.0  # at least this many block grids a second (every frame below 10 fps)
RECHECK_SAME_REGION_SHARE = 0.5  # a region found during a pause that shares this much is the same chest
SAME_CHEST_MARGIN_BLOCKS = 1
RECHECK_WINDOW_S = 15.0  # ...searched over the last this many seconds...
RECHECK_MIN_CYCLES = 2.0  # ...must show this many breathing cycles there...
RECHECK_MIN_SIZE = 0.5  # ...and be at least this share of the tracked chest's size
REFRESH_MARGIN_BLOCKS = 3  # a refresh searches this far around the tracked chest
MIN_STILL_BLOCKS = 8  # still reference blocks needed to take the frame's common motion out


@dataclass
class FrameState:
    """What the chest stage knows of the scene at a moment, besides the signal."""

    state: str  # breathing, apnea, motion, absent, searching
    present: bool | None
    region_px: list[int] | None


@dataclass
class FrontResult:
    """One frame's output: the chest displacement samples it gave."""

    samples: list[tuple[float, float]]  # chest displacement (t_s, mm), oldest first
    restart: bool  # the signal starts anew with these samples (after motion, or a new region)
    backfill: bool = False  # the samples are a new region's recent past, at grid_fps (not frames)


class DepthFrontEnd:
    """Per frame: motion, the chest region, presence, and the chest displacement samples.

    Every frame is reduced to its block grid; the chest blocks give the chest displacement on every
    frame, and the grids averaged over GRID_RATE_HZ intervals serve motion, presence and the region
    search (a few times a second is enough for them, and the average is quieter than one frame).
    """

    def __init__(self, config: SimpleNamespace, fps: float, width: int):
        self.cfg = config.region
        self.stride = sampling_stride(width)
        self.grid_step = max(1, int(fps // GRID_RATE_HZ))
        self.grid_fps = fps / self.grid_step
        self._grid_sum: np.ndarray | None = None  # the grid interval's running sum and counts
        self._grid_count: np.ndarray | None = None
        self._grid_t = self._grid_first_t = 0.0
        self._grid_frames = 0
        self.search_n = max(1, int(round(self.cfg.search_window_s * self.grid_fps)))
        self.motion_lag = max(1, int(round(MOTION_LAG_S * self.grid_fps)))
        # Up to twice the search window: slow breathing shows too few cycles in one.
        self.history: deque[tuple[float, np.ndarray]] = deque(maxlen=2 * self.search_n + self.motion_lag + 1)
        self.motion = MotionDetector()
        self.last_motion_t = -math.inf
        self.region: ChestRegion | None = None
        self.fixed = self.cfg.fixed_box_px is not None
        # The blocks read on every frame: the chest's, then the still reference blocks around it.
        self.roi_mask: np.ndarray | None = None  # block grid: chest | still
        self.roi_refs: np.ndarray | None = None  # depth of each of them at rest, mm
        self.roi_weights: np.ndarray | None = None  # chest weights; 0 on still blocks
        self.roi_still: np.ndarray | None = None  # which of them are still reference blocks
        self.offset_mm = 0.0
        self.last_mm: float | None = None
        self.occupied: np.ndarray | None = None  # block depths where a breathing person was found
        self.occupied_mask: np.ndarray | None = None
        self.absent = False
        self.next_search_t = 0.0
        self.next_refresh_t = math.inf
        self.next_recheck_t = 0.0
        self.restart_pending = True

    def _displacement(self, roi_mm: np.ndarray) -> float | None:
        """Weighted chest displacement from the depths of the roi blocks (toward the camera
        positive), less what the still blocks around the chest moved: a D4xx's whole frame
        jitters and drifts together (Halmetschlager-Funek et al. 2019), the bed does not breathe."""
        displacement = self.roi_refs - roi_mm
        ok = np.isfinite(displacement)
        chest = ok & ~self.roi_still
        if not chest.any():
            return None
        weights = self.roi_weights[chest]
        value = float(np.dot(weights, displacement[chest]) / weights.sum())
        still = ok & self.roi_still
        if still.sum() >= MIN_STILL_BLOCKS:
            value -= float(np.mean(displacement[still]))
        return value + self.offset_mm

    def _adopt(self, region: ChestRegion, refs: np.ndarray, t_s: float) -> None:
        self.region = region
        self.absent = False
        still = region.still_mask if region.still_mask is not None else np.zeros_like(region.mask)
        self.roi_mask = region.mask | still
        self.roi_refs = refs[self.roi_mask]
        self.roi_weights = region.weights[self.roi_mask]
        self.roi_still = still[self.roi_mask]
        self.occupied = refs.copy()
        self.occupied_mask = region.mask
        self.offset_mm = 0.0
        self.next_refresh_t = t_s + self.cfg.refresh_s

    def _search(self, t_s: float, blocks: np.ndarray) -> list[tuple[float, float]] | None:
        """Look for the chest; on a first find, the signal of the frames searched (backfill)."""
        self.next_search_t = t_s + self.cfg.search_interval_s
        recent = [(ts, b) for ts, b in self.history if ts > self.last_motion_t]
        stack = np.stack([b for _, b in recent])
        refresh = self.region is not None and not self.restart_pending and self.last_mm is not None
        # A refresh follows slow changes of posture, so it looks around the tracked chest only: a
        # chest that moved far moved visibly (motion restarts the search) or stopped breathing
        # where it was (the pause's recheck searches the whole scene).
        within = dilate(self.region.mask, REFRESH_MARGIN_BLOCKS) if refresh else None
        found = find_chest_region(stack, self.grid_fps, within)
        if found is None:
            # No breathing around the tracked chest: breathing elsewhere means the region was the
            # wrong one (or was left); none anywhere leaves it in place (an apnea shows there).
            return self._look_elsewhere() if refresh else None
        self._adopt(found, np.nanmedian(stack, axis=0), t_s)
        if refresh:
            # A refresh while tracking: keep the signal continuous instead of restarting it.
            now = self._displacement(blocks[self.roi_mask])
            self.offset_mm = self.last_mm - now if now is not None else 0.0
            return None
        return self._restart_from(found, recent)

    def _restart_from(self, found: ChestRegion, recent: list[tuple[float, np.ndarray]]) -> list[tuple[float, float]]:
        """The new region's signal over the frames it was found in: the restarted signal's start."""
        self.restart_pending = False
        backfill = []
        for ts, b in recent:
            value = self._displacement(b[self.roi_mask])
            if value is not None:
                backfill.append((ts, value))
        return backfill

    def posture_changed(self, t_s: float) -> None:
        """The chest signal stepped to a new level: a repositioning that motion detection missed.
        Handled as motion: the signal restarts from the surface as it is now.

        Feedback from the signal stage: Monitor's wiring calls it when posture_step fires."""
        self.last_motion_t = t_s
        self.restart_pending = True
        self.last_mm = None

    def source_break(self) -> None:
        """The source's clock broke (a gap, a step back, a leap): frames on either side of it are
        not one scene in time. Nothing from before it is averaged, searched or backfilled with
        what comes after, and the signal restarts from the surface as it is now."""
        self.history.clear()
        self._grid_frames = 0
        self.restart_pending = True
        self.last_mm = None

    def recheck(self, t_s: float) -> list[tuple[float, float]] | None:
        """During a pause in the chest signal: is someone breathing in another part of the scene?

        A repositioning too gentle to count as motion can leave the region on a surface that no
        longer breathes, and a pause there is not an apnea. The last search window of still frames
        is searched afresh; a breathing region that is mostly elsewhere is adopted and the signal
        restarts from its backfill. A real apnea has no breathing anywhere in those frames, so
        nothing is found (or the same region, kept as it is) and the pause stands. The candidate
        must show at least two breathing cycles in the window, so that the slow step of the gentle
        repositioning itself (one cycle at most) is not taken for breathing.

        Feedback from the signal stage: Monitor's wiring calls it once a second during an apnea.
        """
        if self.fixed or self.region is None or t_s < self.next_recheck_t:
            return None
        self.next_recheck_t = t_s + self.cfg.search_interval_s
        return self._look_elsewhere()

    def _look_elsewhere(self) -> list[tuple[float, float]] | None:
        """The recheck's search: a breathing region mostly outside the tracked one, over the last
        RECHECK_WINDOW_S of still frames, adopted with its backfill; None if there is none."""
        n = max(1, int(round(RECHECK_WINDOW_S * self.grid_fps)))
        recent = [(ts, b) for ts, b in list(self.history)[-n:] if ts > self.last_motion_t]
        if len(recent) < n:
            return None
        stack = np.stack([b for _, b in recent])
        found = find_chest_region(stack, self.grid_fps)
        if found is None or self._same_chest(found):
            return None
        if found.frequency_hz * (recent[-1][0] - recent[0][0]) < RECHECK_MIN_CYCLES:
            return None
        if found.mask.sum() < RECHECK_MIN_SIZE * self.region.mask.sum():
            # A chest that moved is about as large as before; a few blocks of a noisy camera that
            # happen to look periodic for 15 s are not, and must not end a real apnea.
            return None
        self._adopt(found, np.nanmedian(stack, axis=0), recent[-1][0])
        backfill = self._restart_from(found, recent)
        self.last_mm = backfill[-1][1] if backfill else None
        return backfill

    def _same_chest(self, found: ChestRegion) -> bool:
        """Whether a region found afresh is the tracked chest: it shares RECHECK_SAME_REGION_SHARE
        of the smaller of the two, outlines a block apart counting as one (a region found on a
        coarser grid has a blocky outline and can be much larger than the chest it contains)."""
        near = dilate(self.region.mask, SAME_CHEST_MARGIN_BLOCKS)
        shared = int((found.mask & near).sum())
        return shared >= RECHECK_SAME_REGION_SHARE * min(int(found.mask.sum()), int(self.region.mask.sum()))

    def _fixed_region(self, blocks: np.ndarray) -> None:
        mask = blocks_in_box(blocks.shape, tuple(self.cfg.fixed_box_px), self.stride)
        if not mask.any():
            raise UsageError("region.fixed_box_px lies outside the depth image")
        self._adopt(ChestRegion(mask, mask / mask.sum(), 0.0, 0.0), blocks, 0.0)
        self.next_refresh_t = math.inf

    def _left_bed(self, blocks: np.ndarray) -> bool:
        if self.occupied is None:
            return False
        now = blocks[self.occupied_mask]
        then = self.occupied[self.occupied_mask]
        ok = np.isfinite(now) & np.isfinite(then)
        if ok.sum() < max(1, 0.5 * self.occupied_mask.sum()):
            return False
        return float(np.median(now[ok] - then[ok])) >= self.cfg.absent_depth_increase_mm

    def _scene(self, t_s: float, blocks: np.ndarray) -> list[tuple[float, float]] | None:
        """The block-grid work of a grid interval (its mean time and mean block grid, mm);
        returns a backfill when the chest was just found."""
        if len(self.history) >= self.motion_lag and self.motion.moving(
                blocks, self.history[-self.motion_lag][1], self.cfg.motion_threshold_mm, self.cfg.motion_share):
            self.last_motion_t = t_s
            self.restart_pending = True
            self.last_mm = None
        self.history.append((t_s, blocks))
        still_s = t_s - self.last_motion_t
        if still_s < self.cfg.motion_hold_s:
            return None
        if self.region is not None and self._left_bed(blocks):
            self.absent = True
            self.restart_pending = True
            if not self.fixed:
                self.region = None
        search_due = t_s >= self.next_search_t and (self.region is None or t_s >= self.next_refresh_t)
        if not self.fixed and search_due and still_s >= self.cfg.search_window_s \
                and len(self.history) >= self.search_n:
            return self._search(t_s, blocks)
        return None

    def _grid_average(self, t_s: float, blocks: np.ndarray, mm_per_unit: float) -> tuple[float, np.ndarray] | None:
        """Every frame's block grid goes into the mean of its grid interval (grid_step frames); the
        interval's mean time and mean grid (mm) when it is complete. A D4xx's depth noise is largely
        independent from frame to frame, so the mean of k frames has 1/sqrt(k) of it: the search,
        motion and presence all see the quieter grid a faster camera gives, not one frame in k."""
        if self._grid_sum is None or self._grid_sum.shape != blocks.shape:
            self._grid_sum = np.zeros(blocks.shape, dtype=np.float64)
            self._grid_count = np.zeros(blocks.shape, dtype=np.int32)
            self._grid_frames = 0
        elif self._grid_frames and t_s - self._grid_first_t > 1.5 / self.grid_fps:
            # A gap in the frames (a stall, a lost camera): the scene before it is not averaged
            # with the scene after it.
            self._grid_frames = 0
        if not self._grid_frames:
            self._grid_sum[:] = 0.0
            self._grid_count[:] = 0
            self._grid_t, self._grid_first_t = 0.0, t_s
        ok = np.isfinite(blocks)
        self._grid_sum[ok] += blocks[ok]
        self._grid_count += ok
        self._grid_t += t_s
        self._grid_frames += 1
        if self._grid_frames < self.grid_step:
            return None
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = (self._grid_sum / self._grid_count).astype(np.float32) * np.float32(mm_per_unit)
        t_mean = self._grid_t / self._grid_frames
        self._grid_frames = 0
        return t_mean, mean

    def process(self, t_s: float, depth_raw: np.ndarray, mm_per_unit: float) -> FrontResult:
        blocks = block_means(depth_raw, self.stride)
        if self.fixed and self.region is None:
            self._fixed_region(blocks * np.float32(mm_per_unit))
        grid = self._grid_average(t_s, blocks, mm_per_unit)
        if grid is not None:
            backfill = self._scene(*grid)
            if backfill is not None:
                self.last_mm = backfill[-1][1] if backfill else None
                return FrontResult(backfill, True, backfill=True)
        if t_s - self.last_motion_t < self.cfg.motion_hold_s:
            return FrontResult([], True)
        if self.region is None:
            return FrontResult([], False)
        chest_mm = blocks[self.roi_mask] * np.float32(mm_per_unit)
        restart = self.restart_pending
        if restart:
            # After motion the reference is the surface now: the signal restarts at 0 mm.
            self.roi_refs = np.where(np.isfinite(chest_mm), chest_mm, self.roi_refs)
            self.offset_mm = 0.0
            self.restart_pending = False
        value = self._displacement(chest_mm)
        self.last_mm = value
        return FrontResult([] if value is None else [(t_s, value)], restart)

    def frame_state(self, t_s: float) -> FrameState:
        box = block_box_px(self.region.mask, self.stride) if self.region is not None else None
        if t_s - self.last_motion_t < self.cfg.motion_hold_s:
            return FrameState("motion", None if self.occupied is None else not self.absent, box)
        if self.absent:
            return FrameState("absent", False, None)
        if self.region is None:
            return FrameState("searching", None, None)
        return FrameState("breathing", True, box)
