"""Normal breathing that the RSM does not contain: the irregular breathing of REM sleep.

Chest displacement in mm at 10 Hz, built from the physiological RSM's breaths
(sim/rsm_physiological.py: shape, I:E ratio, exhalation, wander, sensor noise) but laid out as
healthy adults breathe in REM sleep: irregular in rate and depth, with bursts of quick shallow
breaths during the bursts of eye movements and a brief central pause after some of them [Gould88,
Douglas82]. Nothing in it is an apnea (every pause is under the AASM's 10 s) nor a periodic
pattern: an operator judging an alarm on it would call it normal breathing (eupnea). The RSM's
eupnea is regular, so the shipped classifier has never seen it (it reads much of it as central
apnea or Cheyne-Stokes; tests/test_human_loop.py).

Sources ("chosen" marks a modelling choice, not a measured value):
- [Douglas82] Douglas NJ et al., "Respiration during sleep in normal man", Thorax 37:840-844,
  1982: in REM sleep breathing is irregular, tidal volume falls and the rate rises.
- [Gould88] Gould GA et al., "Breathing pattern and eye movement density during REM sleep in
  humans", Am Rev Respir Dis 138:874-877, 1988: the denser the eye movements, the faster and
  shallower the breathing; central apneas and hypopneas cluster in the eye-movement bursts.
- [Tobin88] Tobin MJ et al., J Appl Physiol 65:309-317, 1988 (as in sim/camera_signal.py):
  breath-to-breath CV of the rate 20.8 +/- 11.5 %, of the tidal volume 33 +/- 14.9 % awake at rest;
  REM's variability is at least that, so the upper halves of those ranges are used: chosen.
"""

from __future__ import annotations

import numpy as np

from respmon.sim.rsm_physiological import (EXHALE_TAU_RANGE_S, IE_RATIO_RANGE, SENSOR_NOISE_RANGE_MM, PhysioSignal,
                                   _concat, _depths, _pauses, _render, _train, _wander)

REM_RATE_RANGE_BPM = (13.0, 18.0)  # tonic REM: the resting adult range, a little faster [Douglas82]
REM_PERIOD_CV = 0.25  # [Tobin88] upper half, chosen
REM_DEPTH_CV = 0.35  # [Tobin88] upper half, chosen
REM_DEPTH_RANGE_MM = (4.0, 9.0)  # within the RSM's 2-12 mm, REM's smaller volumes: chosen
REM_TONIC_BREATHS = (4, 12)  # breaths between eye-movement bursts: chosen
REM_BURST_PROBABILITY = 0.6  # share of tonic runs followed by a burst: chosen
REM_BURST_BREATHS = (3, 7)  # [Gould88] quick shallow breaths in a burst; counts chosen
REM_BURST_RATE_FACTOR = (1.3, 1.7)  # chosen
REM_BURST_DEPTH_FACTOR = (0.4, 0.7)  # chosen
REM_BURST_CV = (0.15, 0.20)  # period, depth within a burst: chosen
# The pause without breathing effort after a burst: brief, under the AASM's 10 s apnea [Gould88
# reports central events in the bursts; the ones a normal night holds are mostly this short].
REM_PAUSE_RANGE_S = (4.0, 9.0)


def rem_sleep_breathing(rng: np.random.Generator, duration_s: float, rate_hz: float = 10.0) -> PhysioSignal:
    """duration_s of REM-sleep breathing at rate_hz, in mm, starting at end-expiration, with the
    RSM's baseline wander and sensor noise (no body motion: REM sleep is atonic)."""
    if not duration_s > 0 or not rate_hz > 0:
        raise ValueError(f"duration_s and rate_hz must be positive, got {duration_s}, {rate_hz}")
    rate_bpm = rng.uniform(*REM_RATE_RANGE_BPM)
    base_mm = rng.uniform(*REM_DEPTH_RANGE_MM)
    parts, t = [], 0.0
    while t < duration_s:
        n = int(rng.integers(REM_TONIC_BREATHS[0], REM_TONIC_BREATHS[1] + 1))
        tonic = _train(rng, t, n, 60.0 / rate_bpm, _depths(rng, n, base_mm, REM_DEPTH_CV), REM_PERIOD_CV)
        parts.append(tonic)
        t = float(tonic.onset_s[-1] + tonic.period_s[-1])
        if rng.random() < REM_BURST_PROBABILITY:
            m = int(rng.integers(REM_BURST_BREATHS[0], REM_BURST_BREATHS[1] + 1))
            depth = base_mm * rng.uniform(*REM_BURST_DEPTH_FACTOR)
            burst = _train(rng, t, m, 60.0 / (rate_bpm * rng.uniform(*REM_BURST_RATE_FACTOR)),
                           _depths(rng, m, depth, REM_BURST_CV[1]), REM_BURST_CV[0])
            parts.append(burst)
            t = float(burst.onset_s[-1] + burst.period_s[-1]) + rng.uniform(*REM_PAUSE_RANGE_S)
    breaths = _concat(parts)
    t_s = np.arange(int(round(duration_s * rate_hz))) / rate_hz
    breathing, effort_end_s = _render(breaths, t_s, rng.uniform(*IE_RATIO_RANGE), rng.uniform(*EXHALE_TAU_RANGE_S))
    in_window = breaths.onset_s < duration_s
    mean_rate = float(60.0 / breaths.period_s[in_window].mean()) if in_window.any() else None
    noise = rng.uniform(*SENSOR_NOISE_RANGE_MM) * rng.standard_normal(t_s.size)
    return PhysioSignal(breathing + _wander(rng, t_s) + noise, float(rate_hz), mean_rate,
                        _pauses(breaths, effort_end_s, duration_s))
