"""The recent breathing signal, judged once a second: rate, quality and pauses.

Fed the fixed-rate samples (respmon.signal.resample); gives one Analysis per call.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np

from respmon.signal import rate as rsp

MIN_ANALYSIS_S = 8.0  # less signal than this gives no rate
AMPLITUDE_MEMORY = 0.1  # EMA weight of each confident window in the reference breath amplitude
PAUSE_INTERVALS = 1.5  # a pause longer than this many breath intervals is not slow breathing
EFFORT_FRACTION = 0.10  # a swing of this share of the reference amplitude is a (shallow) breath (AASM: an apnea is a 90 % drop)
CLASSIFIER_WINDOW_S = 60.0


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
