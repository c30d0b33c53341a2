"""The streaming path shared by live monitoring and replay: frames (or a waveform) in, one result
per second out. `Monitor` only wires the stages:

    per frame:     depth frame → chest stage (respmon.chest.front) → chest displacement (mm)
                   → resampler (respmon.signal.resample) → 10 Hz breathing signal → analyzer
    once a second: the analyzer's Analysis (rate, quality, seconds since the last breath) and the
                   chest stage's FrameState → one window dict, and the classifier's pattern

and feeds two decisions back from the signal to the chest stage (`_chest_feedback`).

Times are seconds of source time (frame timestamps), never wall-clock, so a replay gives the same
lines however fast it runs. A timestamp that is not a time, the same moment again or one under a
second before it (a frame out of order) is skipped; across a gap in the frames
(respmon.sources.clock) the signal starts anew and the gap's seconds are "lost" windows; a clock
that steps back further or leaps further than source.stall_s is a discontinuity: the Monitor's
time goes on from where it was (no second is invented, none is waited for), the signal starts
anew, and the next window is "lost" with the reason. A second in which frames came on time and
the chest stage could process none of them is "lost" too (UNPROCESSED), and the signal starts
anew after it: the signal stage's last numbers are not written again for it.
"""

from __future__ import annotations

import itertools
from types import SimpleNamespace
from typing import Callable

import numpy as np

from respmon.chest.front import DepthFrontEnd, FrameState
from respmon.signal.analyzer import CLASSIFIER_WINDOW_S, Analysis, BreathingAnalyzer
from respmon.signal.posture import posture_step
from respmon.signal.resample import Resampler
from respmon.sources.clock import MAX_FRAME_GAP_S, judge_source_time


class BadFrame(Exception):
    """A frame the chest stage could not process; `lines` are the windows completed before it."""

    def __init__(self, lines: list[dict]):
        super().__init__("bad frame")
        self.lines = lines


UNPROCESSED = "frames arrive that cannot be processed"


def lost_window(t: int, reason: str) -> dict:
    """The per-second result for a second the source gave nothing usable for."""
    return {"type": "window", "t": t, "state": "lost", "present": None, "rr_bpm": None, "quality": 0.0,
            "seconds_since_breath": None, "displacement_mm": None, "pattern": None, "confidence": None,
            "probs": None, "reason": reason}


class Monitor:
    """Wires the stages; `frame()` or `sample()` in, per-second result dicts out."""

    def __init__(self, config: SimpleNamespace, *, fps: float | None = None, width: int | None = None,
                 on_sample: Callable[[float, float], None] | None = None, classifier=None,
                 summarize: bool = True):
        self.config = config
        self.on_sample = on_sample
        self.classifier = classifier  # a PatternClassifier, or None for rate only
        # Every rate, for summary()'s median: a replay's. A daemon's session lasts for days and
        # never asks for one (a float a second would be 2.8 MB a day, for nothing).
        self.summarize = summarize
        self.rates: list[float] = []
        self.windows = 0
        rate_hz = config.signal.rate_hz
        self.resampler = Resampler(rate_hz)
        r = config.rate
        self.front = DepthFrontEnd(config, fps, width) if fps is not None else None
        self.analyzer = BreathingAnalyzer(rate_hz, r.window_s, r.long_window_s, r.min_quality, r.apnea_min_s,
                                          source_hz=fps, backfill_hz=None if self.front is None else self.front.grid_fps)
        self.t0: float | None = None  # source time of the Monitor's time 0 (moved on a discontinuity)
        self.last_t: float | None = None  # the Monitor's time of the last usable timestamp
        self.last_source_t: float | None = None  # and that timestamp as the source gave it
        self.next_second = 1  # window t covers the source up to t seconds
        self.latest_mm: float | None = None
        self.latest_sample_t: float | None = None  # the Monitor's time of the newest sample
        self.max_gap_s = config.source.stall_s
        self.frame_interval_s = 1.0 / fps if fps else 1.0 / rate_hz
        self.fault: str | None = None  # why the next windows are lost
        self.skipped_times = 0  # timestamps that were no time, or the same moment again
        self.last_processed_t: float | None = None  # the Monitor's time of the last frame processed

    def _emit_until(self, t_s: float) -> list[dict]:
        lines = []
        while t_s + 1e-6 >= self.next_second:
            if self.fault is not None:
                lines.append(lost_window(self.next_second, self.fault))
            elif self._unprocessed(self.next_second):
                # Frames came and the chest stage could take none of them: nothing was measured,
                # and nothing from before is joined to what comes after.
                self._restart_signal()
                self.front.source_break()
                lines.append(lost_window(self.next_second, UNPROCESSED))
            else:
                lines.append(self._window(self.next_second))
            self.next_second += 1
        if lines:
            self.fault = None
        return lines

    def _unprocessed(self, second: int) -> bool:
        """No depth frame was processed in the second up to `second` (a gap in the frames is the
        clock's to name)."""
        return self.front is not None and (self.last_processed_t is None
                                           or second - self.last_processed_t > MAX_FRAME_GAP_S + 1e-6)

    def _clock(self, t_s: float) -> float | None:
        """The Monitor's time for a source timestamp; None for one to skip (no time, or a repeat)."""
        step = judge_source_time(self.last_source_t, t_s, self.max_gap_s)
        if step.kind in ("invalid", "repeat"):
            self.skipped_times += 1
            return None
        if self.t0 is None:
            self.t0 = t_s
        elif step.kind == "discontinuity":
            # The time in between is not the patient's: carry on as if this frame came next.
            self.t0 = t_s - (self.last_t + self.frame_interval_s)
        if step.kind in ("gap", "discontinuity"):
            self._restart_signal()  # nothing is joined across it, nothing measured from before it
            if self.front is not None:
                self.front.source_break()
            self.fault = step.reason
        self.last_source_t = t_s
        self.last_t = t_s - self.t0
        return self.last_t

    @property
    def elapsed_s(self) -> float:
        """Seconds of source time monitored (leaps and steps back not counted)."""
        return 0.0 if self.last_t is None else self.last_t + self.frame_interval_s

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
        if self.front is not None:
            self._chest_feedback(second, state, tracking)
        self.windows += 1
        if self.summarize and tracking and analysis.rr_bpm is not None:
            self.rates.append(analysis.rr_bpm)
        return {**self._base_window(second, analysis, state, tracking, fs), **self._pattern(tracking)}

    def _chest_feedback(self, second: int, state: str, tracking: bool) -> None:
        """The signal's feedback to the chest stage, once a second before the window is written.

        - A posture step in the signal (a new resting level) while tracking: the chest stage
          handles it as motion, and its signal restarts from the surface as it is now.
        - An apnea: the chest stage rechecks the scene for breathing elsewhere; when it adopts
          another region, the signal restarts from that region's recent frames (its backfill),
          and this window already reports on them.
        """
        if tracking and posture_step(self.analyzer.samples, self.analyzer.rate_hz):
            self.front.posture_changed(float(second))
        if state == "apnea":
            backfill = self.front.recheck(float(second))
            if backfill:  # the chest was elsewhere: its signal starts again from the recent frames
                self._restart_signal()
                for ts, value in backfill:
                    self._feed(ts, value, backfill=True)

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

    def recent_signal_mm(self, seconds: float = CLASSIFIER_WINDOW_S) -> dict | None:
        """The last `seconds` of the breathing signal (mm for depth frames; a waveform's own units),
        as the classifier sees it: fewer samples when the signal restarted since; None when it holds
        none. end_t is the Monitor's time of the last sample."""
        rate_hz = self.analyzer.rate_hz
        wanted = int(round(seconds * rate_hz))
        samples = self.analyzer.samples
        if not samples or wanted <= 0:
            return None
        recent = itertools.islice(samples, max(0, len(samples) - wanted), None)
        end_t = None if self.latest_sample_t is None else round(self.latest_sample_t, 3)
        return {"rate_hz": float(rate_hz), "end_t": end_t, "mm": [round(float(v), 2) for v in recent]}

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

    def sample(self, t_s: float, value: float) -> list[dict]:
        """A breathing-signal sample (any units) at source time t_s."""
        t = self._clock(t_s)
        if t is None:
            return []
        lines = self._emit_until(t)
        self._feed(t, value)
        return lines

    def frame(self, t_s: float, depth_raw: np.ndarray, mm_per_unit: float) -> list[dict]:
        t = self._clock(t_s)
        if t is None:
            return []
        lines = self._emit_until(t)
        try:
            result = self.front.process(t, depth_raw, mm_per_unit)
        except Exception as exc:  # the seconds already completed are not lost with the frame
            raise BadFrame(lines) from exc
        self.last_processed_t = t
        if result.restart:
            self._restart_signal()
        for ts_frame, value in result.samples:
            self._feed(ts_frame, value, result.backfill)
        return lines

    def _restart_signal(self) -> None:
        """The chest signal starts anew (after motion, or on a new region): forget the old one."""
        self.resampler.reset()
        self.analyzer.reset()
        self.latest_mm = None
        self.latest_sample_t = None

    def _feed(self, t: float, value: float, backfill: bool = False) -> None:
        for ts, v in self.resampler.feed(t, value):
            self.analyzer.add(v, backfill)
            self.latest_mm = v
            self.latest_sample_t = ts
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
        """Lines for the seconds completed at the end of the source (t_end_s: when its last frame
        ends; beyond a frame gap after the last usable timestamp, that one's end is taken)."""
        if t_end_s is None or self.last_t is None:
            return []
        end = t_end_s - self.t0
        if not np.isfinite(end) or not self.last_t <= end <= self.last_t + MAX_FRAME_GAP_S:
            end = self.last_t + self.frame_interval_s
        return self._emit_until(end)
