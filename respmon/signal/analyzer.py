"""The recent breathing signal, judged once a second: rate, quality and pauses.

Fed the fixed-rate samples (respmon.signal.resample); gives one Analysis per call.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np

from respmon.signal import rate as rsp
from respmon.signal.pauses import NOT_JUDGED, effort_band_hz, judge_pause, pause_limit_s

MIN_ANALYSIS_S = 8.0  # less signal than this gives no rate
MIN_CONFIDENT_WINDOWS = 10  # confident seconds before pauses are judged
AMPLITUDE_MEMORY = 0.1  # EMA weight of each confident window in the reference breath amplitude
# The breath interval the pause judgement works with is the median of the last this many confident
# windows': far away, a window now and then reads fast breathing at a half or a third of its rate
# (dev scenes 100027, 100061, 100066 at 1.8-2.1 m), and the effort band tuned to that one reading
# no longer held the real breaths: a false apnea, and no breath could end it.
INTERVAL_MEMORY = 5
CLASSIFIER_WINDOW_S = 60.0
# Live samples enough to measure the sensor noise on (a MAD over 20 samples is within about 30 %).
MIN_LIVE_NOISE_S = 2.0
# A confident rate below this can be no heartbeat (45-120 /min at rest in bed, sim/body.py), so it
# may stand against a stale breath interval.
HEARTBEAT_FLOOR_BPM = 45.0


def in_effort_band(rate_bpm: float, typical_interval_s: float, rate_hz: float) -> bool:
    low_hz, high_hz = effort_band_hz(typical_interval_s, rate_hz)
    return low_hz <= rate_bpm / 60.0 <= high_hz


@dataclass
class Analysis:
    """One second's judgement of the breathing signal."""

    rr_bpm: float | None
    quality: float
    seconds_since_breath: float | None
    breathing: bool | None  # False: a pause longer than a breath interval allows (apnea)


class BreathingAnalyzer:
    """Keeps the recent 10 Hz breathing signal and judges it once per second."""

    def __init__(self, rate_hz: float, window_s: float, long_window_s: float, min_quality: float,
                 apnea_min_s: float, keep_s: float = CLASSIFIER_WINDOW_S, source_hz: float | None = None,
                 backfill_hz: float | None = None):
        self.rate_hz = rate_hz
        self.source_hz = source_hz  # the frame rate the samples come at (None: unknown, or a waveform)
        # The rate of the samples a restart begins with (the chest stage's backfill, from its
        # averaged grids): None if they come at source_hz like the rest.
        self.backfill_hz = backfill_hz
        self.window_n = int(round(window_s * rate_hz))
        self.long_n = int(round(max(long_window_s, window_s) * rate_hz))
        self.min_quality = min_quality
        self.apnea_min_s = apnea_min_s
        # Kept for the longest reader: the long rate window or the classifier's 60 s.
        self.samples: deque[float] = deque(maxlen=max(self.long_n, int(round(keep_s * rate_hz))))
        self.reference_amplitude: float | None = None
        self.recent_intervals_s: deque[float] = deque(maxlen=INTERVAL_MEMORY)
        self.confident_windows = 0  # since the signal (re)started
        self.added = 0  # samples since the signal (re)started...
        self.backfilled = 0  # ...of which this many, the first, were backfill

    @property
    def typical_interval_s(self) -> float | None:
        """The breath interval learnt: the median of the last confident windows', None if none."""
        return float(np.median(self.recent_intervals_s)) if self.recent_intervals_s else None

    def reset(self) -> None:
        self.samples.clear()
        self.reference_amplitude = None
        self.recent_intervals_s.clear()
        self.confident_windows = 0
        self.added = self.backfilled = 0

    def add(self, value: float, backfill: bool = False) -> None:
        """One sample; backfill: it is from the chest stage's backfill, which only ever begins a
        (re)started signal."""
        self.samples.append(value)
        self.added += 1
        self.backfilled += backfill

    def sensor_sigma(self, x: np.ndarray) -> float:
        """The sensor noise of the newest len(x) samples (rsp.noise_sigma), from the live samples.

        A backfill is a slower series (the chest stage's averaged grids) interpolated up to
        rate_hz: its second differences see a fraction of the noise, and a buffer that starts with
        one would have its noise taken for a third of what the live samples carry. The live
        samples alone give it once there are MIN_LIVE_NOISE_S of them; until then the backfill,
        measured at its own rate, does (still low by about 40 %: its interpolated samples do not
        all fall between two grids as a slow camera's do, which rsp.noise_sigma's rescaling assumes).
        """
        live = min(len(x), self.added - self.backfilled)
        if live >= len(x) - live or live >= MIN_LIVE_NOISE_S * self.rate_hz:
            return rsp.noise_sigma(x[len(x) - live:], self.rate_hz, self.source_hz)
        return rsp.noise_sigma(x[:len(x) - live], self.rate_hz, self.backfill_hz or self.source_hz)

    @property
    def duration_s(self) -> float:
        return len(self.samples) / self.rate_hz

    def analyze(self) -> Analysis:
        if self.duration_s < MIN_ANALYSIS_S:
            return Analysis(None, 0.0, None, None)
        x = np.fromiter(self.samples, dtype=float, count=len(self.samples))[-self.long_n:]
        sigma_x = self.sensor_sigma(x)  # the long rate window's and the pause judgement's
        short = x[-self.window_n:]
        estimate = rsp.estimate_rate(short, self.rate_hz, self.reference_amplitude, self.source_hz,
                                     self.sensor_sigma(short))
        # The whole buffer gives the rate only when the short window cannot: slow breathing
        # leaves too few breaths in it. (Pauses are timed over the whole buffer below.)
        few_breaths = estimate.rate_bpm is None or len(estimate.breaths) < 4
        window_s = min(len(x), self.window_n) / self.rate_hz
        if len(x) > self.window_n and few_breaths:
            long = rsp.estimate_rate(x, self.rate_hz, self.reference_amplitude, self.source_hz, sigma_x)
            if long.rate_bpm is not None and long.quality >= estimate.quality:
                estimate, window_s = long, len(x) / self.rate_hz
        confident = estimate.rate_bpm is not None and estimate.quality >= self.min_quality
        self.confident_windows += confident
        # The pause is timed over the whole buffer, so that it can run up to the long window; and
        # only once the breathing was measured with confidence for a while: a reference and a
        # breath interval learnt from a window or two of a poor signal may be noise's. It is
        # judged against what was learnt before this window: during a pause the long window
        # still holds the breaths before it, and must not teach a smaller reference that would
        # make the pause unjudgeable.
        if self.confident_windows >= MIN_CONFIDENT_WINDOWS:
            pause = judge_pause(x, self.rate_hz, self.reference_amplitude, self.typical_interval_s,
                                self.apnea_min_s, sensor_sigma=sigma_x)
            if (pause.breathing is False and confident and estimate.rate_bpm < HEARTBEAT_FLOOR_BPM
                    and not in_effort_band(estimate.rate_bpm, self.typical_interval_s, self.rate_hz)):
                # Breathing seen now with confidence at a rate the learnt interval's effort band shuts
                # out (eupnea turned tachypnea, its breaths under the old reference's hysteresis): the
                # learnt interval is the stale one, and since a pause teaches nothing it would never
                # follow. Judged again in the band of that rate, against the same reference: a pause
                # ends only on effort of the size it always needed. Never at a heart's rate.
                pause = judge_pause(x, self.rate_hz, self.reference_amplitude, 60.0 / estimate.rate_bpm,
                                    self.apnea_min_s, sensor_sigma=sigma_x)
        else:
            pause = NOT_JUDGED
        if confident and pause.breathing is not False:
            self._learn(estimate, x)
        # No rate during a pause. Where no pause could be judged (breathing None) the rate stands
        # only for breathing that goes on: breaths that all lie longer ago than a pause may last
        # (an apnea the judgement could not time, on a noisy signal) are no rate of now.
        last_s = estimate.breaths.last_effort_s
        stale = pause.breathing is None and (
            last_s is None or window_s - last_s > pause_limit_s(self.apnea_min_s, self._interval_s(estimate)))
        rr = estimate.rate_bpm if confident and pause.breathing is not False and not stale else None
        since = pause.seconds_since_breath
        return Analysis(rr, estimate.quality, None if since is None else round(since, 1), pause.breathing)

    def _interval_s(self, estimate: rsp.RateEstimate) -> float:
        """The breath interval learnt, or this window's if none was learnt yet."""
        return self.typical_interval_s or (60.0 / estimate.rate_bpm if estimate.rate_bpm else 0.0)

    def _learn(self, estimate: rsp.RateEstimate, x: np.ndarray) -> None:
        """The reference breath amplitude and interval, from a confident window of breathing."""
        if estimate.from_breaths:
            amplitude = estimate.breath_amplitude
            self.reference_amplitude = amplitude if self.reference_amplitude is None else (
                (1 - AMPLITUDE_MEMORY) * self.reference_amplitude + AMPLITUDE_MEMORY * amplitude)
            self.recent_intervals_s.append(60.0 / estimate.rate_bpm)
        elif self.reference_amplitude is not None:
            # Breathing goes on (an unmistakable spectral rate) but breaths are not told apart:
            # a reference learnt on deeper breaths (eupnea before shallow tachypnea) sets the
            # threshold above them. Let it follow the breathing now, or its pauses would be false.
            clean = rsp.rsp_clean(x[-self.window_n:], self.rate_hz)
            spread = float(np.percentile(clean, 95) - np.percentile(clean, 5))
            if spread < self.reference_amplitude:
                self.reference_amplitude += AMPLITUDE_MEMORY * (spread - self.reference_amplitude)
            self.recent_intervals_s.append(60.0 / estimate.rate_bpm)
