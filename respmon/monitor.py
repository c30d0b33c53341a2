"""The streaming path shared by live monitoring and replay: frames (or a waveform) in, one result
per second out.

    depth frame → block grid → motion / chest region / presence → chest displacement (mm)
               → 10 Hz breathing signal → rate, quality, seconds since the last breath

Times are seconds of source time (frame timestamps), never wall-clock, so a replay gives the same
lines however fast it runs.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Callable

import numpy as np

from respmon.chest.front import DepthFrontEnd, FrameState
from respmon.signal import rate as rsp

MIN_ANALYSIS_S = 8.0  # less signal than this gives no rate
MAX_GAP_S = 1.0  # a longer gap between samples restarts the signal
AMPLITUDE_MEMORY = 0.1  # EMA weight of each confident window in the reference breath amplitude
PAUSE_INTERVALS = 1.5  # a pause longer than this many breath intervals is not slow breathing
EFFORT_FRACTION = 0.10  # a swing of this share of the reference amplitude is a (shallow) breath (AASM: an apnea is a 90 % drop)
CLASSIFIER_WINDOW_S = 60.0
STEP_HOLD_S = 3.0  # a posture step: the signal this long at a new level...
STEP_BEFORE_S = 20.0  # ...outside the range it covered this long before...
STEP_MARGIN = 1.0  # ...by this many times that range...
STEP_MIN_MM = 5.0  # ...and at least this much


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


@dataclass
class Analysis:
    rr_bpm: float | None
    quality: float
    seconds_since_breath: float | None
    breathing: bool | None  # False: a pause longer than a breath interval allows (apnea)


class BreathingAnalyzer:
    """Keeps the recent 10 Hz breathing signal and judges it once per second."""

    def __init__(self, rate_hz: float, window_s: float, long_window_s: float, min_quality: float,
                 apnea_min_s: float, keep_s: float = CLASSIFIER_WINDOW_S):
        self.rate_hz = rate_hz
        self.window_n = int(round(window_s * rate_hz))
        self.long_n = int(round(max(long_window_s, window_s) * rate_hz))
        self.min_quality = min_quality
        self.apnea_min_s = apnea_min_s
        # Kept for the longest reader: the long rate window or the classifier's 60 s.
        self.samples: deque[float] = deque(maxlen=max(self.long_n, int(round(keep_s * rate_hz))))
        self.reference_amplitude: float | None = None
        self.typical_interval_s: float | None = None

    def reset(self) -> None:
        self.samples.clear()
        self.reference_amplitude = None
        self.typical_interval_s = None

    def add(self, value: float) -> None:
        self.samples.append(value)

    @property
    def duration_s(self) -> float:
        return len(self.samples) / self.rate_hz

    def analyze(self) -> Analysis:
        if self.duration_s < MIN_ANALYSIS_S:
            return Analysis(None, 0.0, None, None)
        x = np.fromiter(self.samples, dtype=float, count=len(self.samples))[-self.long_n:]
        estimate = rsp.estimate_rate(x[-self.window_n:], self.rate_hz, self.reference_amplitude)
        # The whole buffer is analysed only when the short window cannot answer alone: slow
        # breathing leaves too few breaths in it, or no breath is recent enough to time a pause.
        last = estimate.breaths.last_effort_s
        recent = last is not None and (min(len(x), self.window_n) / self.rate_hz - last) < self.apnea_min_s
        long, long_n = estimate, min(len(x), self.window_n)
        few_breaths = estimate.rate_bpm is None or len(estimate.breaths) < 4
        if len(x) > self.window_n and (few_breaths or not recent):
            long, long_n = rsp.estimate_rate(x, self.rate_hz, self.reference_amplitude), len(x)
            if few_breaths and long.rate_bpm is not None and long.quality >= estimate.quality:
                estimate = long
        confident = estimate.rate_bpm is not None and estimate.quality >= self.min_quality
        if confident and estimate.from_breaths:
            amplitude = estimate.breath_amplitude
            self.reference_amplitude = amplitude if self.reference_amplitude is None else (
                (1 - AMPLITUDE_MEMORY) * self.reference_amplitude + AMPLITUDE_MEMORY * amplitude)
            self.typical_interval_s = 60.0 / estimate.rate_bpm
        elif confident and self.reference_amplitude is not None:
            # Breathing goes on (an unmistakable spectral rate) but breaths are not told apart:
            # a reference learnt on deeper breaths (eupnea before shallow tachypnea) sets the
            # threshold above them. Let it follow the breathing now, or its pauses would be false.
            clean = rsp.rsp_clean(x[-self.window_n:], self.rate_hz)
            spread = float(np.percentile(clean, 95) - np.percentile(clean, 5))
            if spread < self.reference_amplitude:
                self.reference_amplitude += AMPLITUDE_MEMORY * (spread - self.reference_amplitude)
            self.typical_interval_s = 60.0 / estimate.rate_bpm
        rate_only = Analysis(estimate.rate_bpm if confident else None, estimate.quality, None, None)
        if self.reference_amplitude is None:
            # Breaths were never told apart on this signal: a pause cannot be told from no signal.
            return rate_only
        if rsp.NOISE_MARGIN * long.noise_sigma >= rsp.HYSTERESIS_FRACTION * self.reference_amplitude / 2:
            # The noise, not the breathing, sets the breath threshold: missing breaths would be
            # the noise hiding them, so no pause is judged (never a false apnea from a noisy signal).
            return rate_only
        end_s = long_n / self.rate_hz
        last_effort_s = long.breaths.last_effort_s
        since = end_s if last_effort_s is None else max(0.0, end_s - last_effort_s)
        pause_limit_s = max(self.apnea_min_s, PAUSE_INTERVALS * (self.typical_interval_s or 0.0))
        if since > self.apnea_min_s:
            since = self._since_small_effort(x[-long_n:], long.noise_sigma, since)
        breathing = bool(since <= pause_limit_s)
        rr = estimate.rate_bpm if breathing and estimate.quality >= self.min_quality else None
        return Analysis(rr, estimate.quality, round(since, 1), breathing)

    def _since_small_effort(self, x: np.ndarray, noise_sigma: float, since_s: float) -> float:
        """Seconds since the last breath, counting shallow ones too before calling it a pause.

        The rate's breath detector needs swings of a fair share of the reference amplitude, which
        after a change from deep to shallow breathing (eupnea into shallow bradypnea) misses
        every new breath. A pause (apnea) is a drop of about 90 % in amplitude: over the pause,
        any breath of EFFORT_FRACTION of the reference that stands clear of the noise ends it.
        """
        clean = rsp.rsp_clean(x, self.rate_hz)
        level = max(EFFORT_FRACTION * self.reference_amplitude / 2.0, rsp.NOISE_MARGIN * noise_sigma)
        recent_n = min(len(clean), int(round((since_s + 2.0) * self.rate_hz)))
        efforts = rsp.rsp_peaks(clean[-recent_n:], self.rate_hz, level)
        last = efforts.last_effort_s
        return since_s if last is None else min(since_s, max(0.0, recent_n / self.rate_hz - last))


def posture_step(samples, rate_hz: float) -> bool:
    """True when the last STEP_HOLD_S of the signal lie wholly outside the range the breathing
    covered over the STEP_BEFORE_S before, by more than STEP_MARGIN times that range (and at
    least STEP_MIN_MM): a new resting level, not a breath. A sigh or a cough leaves the range for
    a moment only; an apnea rests at the bottom of it; a crescendo returns to it every breath."""
    hold_n, before_n = int(round(STEP_HOLD_S * rate_hz)), int(round(STEP_BEFORE_S * rate_hz))
    if len(samples) < hold_n + before_n:
        return False
    x = np.fromiter(samples, dtype=float, count=len(samples))[-(hold_n + before_n):]
    before, last = x[:before_n], x[before_n:]
    low, high = np.percentile(before, [5, 95])
    margin = max(STEP_MARGIN * (high - low), STEP_MIN_MM)
    return bool(last.max() < low - margin or last.min() > high + margin)


class Monitor:
    """Wires the stages; `frame()` or `sample()` in, per-second result dicts out."""

    def __init__(self, config: SimpleNamespace, *, fps: float | None = None, width: int | None = None,
                 on_sample: Callable[[float, float], None] | None = None, classifier=None):
        self.config = config
        self.on_sample = on_sample
        self.classifier = classifier  # a PatternClassifier, or None for rate only
        self.rates: list[float] = []
        self.windows = 0
        rate_hz = config.signal.rate_hz
        self.resampler = Resampler(rate_hz)
        r = config.rate
        self.analyzer = BreathingAnalyzer(rate_hz, r.window_s, r.long_window_s, r.min_quality, r.apnea_min_s)
        self.front = DepthFrontEnd(config, fps, width) if fps is not None else None
        self.t0: float | None = None
        self.next_second = 1  # window t covers the source up to t seconds
        self.latest_mm: float | None = None

    def _emit_until(self, t_s: float) -> list[dict]:
        lines = []
        while t_s + 1e-6 >= self.next_second:
            lines.append(self._window(self.next_second))
            self.next_second += 1
        return lines

    def _window(self, second: int) -> dict:
        analysis = self.analyzer.analyze()
        if self.front is not None:
            fs = self.front.frame_state(second)
        else:
            fs = FrameState("breathing", None, None)
        state = fs.state
        if state == "breathing" and analysis.breathing is False:
            state = "apnea"
        tracking = state in ("breathing", "apnea")
        if tracking and self.front is not None and posture_step(self.analyzer.samples, self.analyzer.rate_hz):
            self.front.posture_changed(float(second))
        if state == "apnea" and self.front is not None:
            backfill = self.front.recheck(float(second))
            if backfill:  # the chest was elsewhere: its signal starts again from the recent frames
                self.resampler.reset()
                self.analyzer.reset()
                self.latest_mm = None
                for ts, value in backfill:
                    self._feed(ts, value)
        self.windows += 1
        if tracking and analysis.rr_bpm is not None:
            self.rates.append(analysis.rr_bpm)
        return {**self._base_window(second, analysis, state, tracking, fs), **self._pattern(tracking)}

    def _pattern(self, tracking: bool) -> dict:
        """The classifier's view of the last 60 s of signal, once there are 60 s since a restart."""
        if self.classifier is None:
            return {}
        needed = int(round(CLASSIFIER_WINDOW_S * self.analyzer.rate_hz))
        if not tracking or len(self.analyzer.samples) < needed:
            return {"pattern": None, "confidence": None, "probs": None}
        from respmon.classify.infer import describe

        recent = np.fromiter(self.analyzer.samples, dtype=float)[-needed:]
        return describe(self.classifier.classify_signal(recent, self.analyzer.rate_hz))

    def _base_window(self, second: int, analysis: Analysis, state: str, tracking: bool, fs: FrameState) -> dict:
        return {
            "type": "window",
            "t": second,
            "rr_bpm": None if not tracking or analysis.rr_bpm is None else round(analysis.rr_bpm, 2),
            "quality": round(analysis.quality, 3) if tracking else 0.0,
            "state": state,
            "present": fs.present,
            "seconds_since_breath": analysis.seconds_since_breath if tracking else None,
            "displacement_mm": None if self.latest_mm is None or not tracking else round(self.latest_mm, 3),
            "region_px": fs.region_px,
        }

    def _relative(self, t_s: float) -> float:
        if self.t0 is None:
            self.t0 = t_s
        return t_s - self.t0

    def sample(self, t_s: float, value: float) -> list[dict]:
        """A breathing-signal sample (any units) at source time t_s."""
        t = self._relative(t_s)
        lines = self._emit_until(t)
        self._feed(t, value)
        return lines

    def frame(self, t_s: float, depth_raw: np.ndarray, mm_per_unit: float) -> list[dict]:
        t = self._relative(t_s)
        lines = self._emit_until(t)
        result = self.front.process(t, depth_raw, mm_per_unit)
        if result.restart:
            self.resampler.reset()
            self.analyzer.reset()
            self.latest_mm = None
        for ts_frame, value in result.samples:
            self._feed(ts_frame, value)
        return lines

    def _feed(self, t: float, value: float) -> None:
        for ts, v in self.resampler.feed(t, value):
            self.analyzer.add(v)
            self.latest_mm = v
            if self.on_sample is not None:
                self.on_sample(ts, v)

    def summary(self) -> dict:
        """Over the whole run: windows, how many had a rate, and the median rate."""
        return {
            "windows": self.windows,
            "windows_with_rate": len(self.rates),
            "median_rr_bpm": round(float(np.median(self.rates)), 2) if self.rates else None,
        }

    def finish(self, t_end_s: float | None = None) -> list[dict]:
        """Lines for the seconds completed at the end of the source."""
        if t_end_s is None or self.t0 is None:
            return []
        return self._emit_until(t_end_s - self.t0)
