"""The chest displacement, sampled at frame times, onto the fixed-rate grid of the signal stage.

Frames that fall into one grid interval are averaged first (their mean time and mean value, a
"bin centroid"); the grid is then interpolated linearly between consecutive centroids. A camera
slower than the grid has at most one frame per interval, and this is plain linear interpolation
between frames. A faster one has several, and their independent depth noise averages down (three
frames at 30 fps for a 10 Hz grid: sigma / sqrt(3)) instead of being dropped, as interpolation
between the two frames around each grid time would. Using the centroid's own time, not the grid
time, keeps a steep breath from being shifted by the averaging.
"""

from __future__ import annotations

import math

from respmon.sources.clock import MAX_FRAME_GAP_S as MAX_GAP_S  # a longer gap restarts the signal


class Resampler:
    """Bin-averaged, linearly interpolated resampling of an irregular stream onto the grid
    t0 + k / rate_hz, t0 being the first sample's time after a (re)start."""

    def __init__(self, rate_hz: float):
        self.rate_hz = rate_hz
        self.step_s = 1.0 / rate_hz
        self.reset()

    def reset(self) -> None:
        self._t0: float | None = None
        self._last_t: float | None = None
        self._bin: int = 0
        self._sum_t = self._sum_v = 0.0
        self._count = 0
        self._centroid: tuple[float, float] | None = None  # the last closed bin's
        self._next_k = 0

    def feed(self, t_s: float, value: float) -> list[tuple[float, float]]:
        """The grid samples (time, value) that this sample completes, oldest first."""
        if not (math.isfinite(value) and math.isfinite(t_s)):
            return []
        if self._last_t is not None and t_s <= self._last_t:
            return []  # out of order or repeated: ignore
        if self._last_t is None or t_s - self._last_t > MAX_GAP_S:
            self.reset()
            self._t0 = t_s
        self._last_t = t_s
        k = math.floor((t_s - self._t0) / self.step_s + 0.5)
        out: list[tuple[float, float]] = []
        if self._count and k != self._bin:
            out = self._close_bin()
        if not self._count:
            self._bin = k
        self._sum_t += t_s
        self._sum_v += value
        self._count += 1
        return out

    def _close_bin(self) -> list[tuple[float, float]]:
        t1, v1 = self._sum_t / self._count, self._sum_v / self._count
        self._sum_t = self._sum_v = 0.0
        self._count = 0
        out: list[tuple[float, float]] = []
        previous, self._centroid = self._centroid, (t1, v1)
        if previous is None:
            # The first centroid: the grid starts at the first grid time not before it.
            self._next_k = max(0, math.ceil((t1 - self._t0) / self.step_s - 1e-9))
            previous = (t1, v1)
        t0, v0 = previous
        while True:
            t = self._t0 + self._next_k * self.step_s
            if t > t1 + 1e-9:
                break
            frac = 0.0 if t1 <= t0 else (t - t0) / (t1 - t0)
            out.append((t, v0 + frac * (v1 - v0)))
            self._next_k += 1
        return out
