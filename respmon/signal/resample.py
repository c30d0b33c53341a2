"""The chest displacement, sampled at frame times, onto the fixed-rate grid of the signal stage."""

from __future__ import annotations

import math

MAX_GAP_S = 1.0  # a longer gap between samples restarts the signal


class Resampler:
    """Linear interpolation of an irregular stream onto a fixed grid (t0 + k / rate_hz)."""

    def __init__(self, rate_hz: float):
        self.rate_hz = rate_hz
        self.reset()

    def reset(self) -> None:
        self._last: tuple[float, float] | None = None
        self._next_t: float | None = None

    def feed(self, t_s: float, value: float) -> list[tuple[float, float]]:
        out: list[tuple[float, float]] = []
        if not math.isfinite(value):
            return out
        if self._last is None or t_s - self._last[0] > MAX_GAP_S or t_s <= self._last[0]:
            if self._last is not None and t_s <= self._last[0]:
                return out  # out of order or repeated: ignore
            self._last = (t_s, value)
            self._next_t = t_s
            return out
        t0, v0 = self._last
        step = 1.0 / self.rate_hz
        while self._next_t <= t_s + 1e-9:
            frac = (self._next_t - t0) / (t_s - t0)
            out.append((self._next_t, v0 + frac * (value - v0)))
            self._next_t += step
        self._last = (t_s, value)
        return out
