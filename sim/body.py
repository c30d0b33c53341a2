"""What a real body in bed adds to the chest's breathing motion: heartbeat, sighs, swallows,
twitches, and the blanket the camera actually sees.

`add_body_motion` takes the breathing displacement of a timeline (mm, per frame) and returns the
surface displacement the camera sees, with every event listed for the truth file. Events that are
respiratory (sighs, swallows) only happen where the person is breathing; heartbeat and twitches
go on through apneas, which is exactly what a pause detector must not take for breathing effort.

Sources (values quoted where they set a number; "chosen" marks a modelling choice):
- Cardiac (ballistocardiographic / seismocardiographic) chest-surface motion of 0.1-0.5 mm: the
  range used in radar and camera vital-sign work (e.g. Droitcour et al., IEEE MTT 2004; Li et al.,
  IEEE MTT 61(5) 2013 review), heart rate 45-120/min at rest in bed.
- Beat-to-beat variability: SDNN of tens of ms at 60/min (Task Force of the ESC/NASPE, Circulation
  1996), i.e. an RR coefficient of variation of about 2-8 %.
- Sighs: about 12 an hour at rest, at least twice the tidal volume, often followed by a short
  post-sigh pause (Vlemincx et al., Biol Psychol 2013; Ramirez, J Physiol 2014).
- Swallowing: about 6 an hour asleep and up to one a minute awake (Lichter & Muir, 1975; Lear et
  al., 1965), each with a swallow apnea of 0.5-1.5 s (Martin-Harris et al., 2005).
- Twitches: brief small jerks that are not repositioning (hypnic/myoclonic); rate, size, duration
  chosen.
- Blankets damp and lag the surface motion of the chest: gain and time constant chosen.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from scipy import signal as sps

CARDIAC_PP_RANGE_MM = (0.1, 0.5)
HEART_RATE_RANGE_BPM = (45.0, 120.0)
RR_CV_RANGE = (0.02, 0.08)
SIGHS_PER_H_RANGE = (0.0, 20.0)
SIGH_DEPTH_RANGE = (1.0, 2.0)  # extra depth over a tidal breath, in tidal depths (sigh >= 2x tidal)
SIGH_DURATION_RANGE_S = (3.0, 6.0)
POST_SIGH_PAUSE_RANGE_S = (0.0, 6.0)
SWALLOWS_PER_H_RANGE = (3.0, 40.0)
SWALLOW_APNEA_RANGE_S = (0.5, 1.5)
SWALLOW_BUMP_RANGE_MM = (0.2, 1.0)
TWITCHES_PER_H_RANGE = (0.0, 20.0)
TWITCH_RANGE_MM = (1.0, 4.0)
TWITCH_DURATION_RANGE_S = (0.1, 0.4)
BLANKET_PROBABILITY = 0.8  # chosen: most patients in bed are covered
BLANKET_GAIN_RANGE = (0.5, 1.0)
BLANKET_TAU_RANGE_S = (0.05, 0.5)
EDGE_MARGIN_S = 3.0  # respiratory events keep this far from a breathing segment's ends


@dataclass(frozen=True)
class BodyKnobs:
    cardiac_pp_mm: float
    heart_rate_bpm: float
    rr_cv: float
    sighs_per_h: float
    swallows_per_h: float
    twitches_per_h: float
    blanket_gain: float  # 1: no blanket
    blanket_tau_s: float  # 0: no blanket

    @classmethod
    def draw(cls, rng: np.random.Generator) -> "BodyKnobs":
        covered = rng.random() < BLANKET_PROBABILITY
        return cls(
            cardiac_pp_mm=float(rng.uniform(*CARDIAC_PP_RANGE_MM)),
            heart_rate_bpm=float(rng.uniform(*HEART_RATE_RANGE_BPM)),
            rr_cv=float(rng.uniform(*RR_CV_RANGE)),
            sighs_per_h=float(rng.uniform(*SIGHS_PER_H_RANGE)),
            swallows_per_h=float(rng.uniform(*SWALLOWS_PER_H_RANGE)),
            twitches_per_h=float(rng.uniform(*TWITCHES_PER_H_RANGE)),
            blanket_gain=float(rng.uniform(*BLANKET_GAIN_RANGE)) if covered else 1.0,
            blanket_tau_s=float(rng.uniform(*BLANKET_TAU_RANGE_S)) if covered else 0.0,
        )

    def as_dict(self) -> dict:
        return {k: round(v, 5) for k, v in asdict(self).items()}


def cardiac_mm(n: int, fps: float, pp_mm: float, heart_rate_bpm: float, rr_cv: float,
               rng: np.random.Generator) -> np.ndarray:
    """Chest-surface heartbeat motion: one biphasic pulse per beat, beat intervals with
    slowly varying (AR(1)) variability, scaled to pp_mm peak to peak."""
    t = np.arange(n) / fps
    mean_rr = 60.0 / heart_rate_bpm
    beats, now, dev = [], float(rng.uniform(0.0, mean_rr)), 0.0
    while now < t[-1] + 1.0 if n else False:
        beats.append(now)
        dev = 0.7 * dev + np.sqrt(1 - 0.7**2) * rng.standard_normal()
        now += mean_rr * max(0.5, 1.0 + rr_cv * dev)
    out = np.zeros(n)
    for beat in beats:
        lo, hi = np.searchsorted(t, [beat - 0.2, beat + 0.9])
        out[lo:hi] += _pulse(t[lo:hi] - beat)
    # Scaled by the continuous pulse's size: sampled at a few frames a second, some beats are
    # partly missed, as a real camera misses them.
    fine = _pulse(np.arange(-0.2, 0.9, 0.001))
    return out * (pp_mm / float(fine.max() - fine.min()))


def _pulse(u: np.ndarray) -> np.ndarray:
    """One beat's chest-wall displacement: pushed out by ejection, then recoiling (widths chosen
    so that the motion is smooth over a beat, as radar recordings of it show)."""
    return np.exp(-0.5 * ((u - 0.15) / 0.08) ** 2) - 0.7 * np.exp(-0.5 * ((u - 0.40) / 0.12) ** 2)


def _poisson_times(rng: np.random.Generator, per_h: float, allowed: np.ndarray, fps: float) -> list[int]:
    """Frame indices of events at per_h an hour, only where allowed."""
    n_allowed = int(allowed.sum())
    count = rng.poisson(per_h * n_allowed / fps / 3600.0)
    if count == 0 or n_allowed == 0:
        return []
    return sorted(int(i) for i in rng.choice(np.flatnonzero(allowed), size=min(count, n_allowed), replace=False))


def _bump(n: int, fps: float, at: int, duration_s: float) -> tuple[slice, np.ndarray]:
    """A raised-cosine bump of height 1 starting at frame `at`."""
    length = max(2, int(round(duration_s * fps)))
    end = min(n, at + length)
    u = np.arange(end - at) / length
    return slice(at, end), 0.5 * (1.0 - np.cos(2.0 * np.pi * u))


def _gate(n: int, fps: float, at: int, duration_s: float) -> tuple[slice, np.ndarray]:
    """Multiplier that takes breathing to zero for duration_s, with 0.3 s ramps."""
    ramp = max(1, int(round(0.3 * fps)))
    hold = max(0, int(round(duration_s * fps)))
    shape = np.concatenate([np.linspace(1, 0, ramp), np.zeros(hold), np.linspace(0, 1, ramp)])
    end = min(n, at + len(shape))
    return slice(at, end), shape[: end - at]


def add_body_motion(breathing_mm: np.ndarray, fps: float, knobs: BodyKnobs, breathing_allowed: np.ndarray,
                    tidal_mm: float, rng: np.random.Generator) -> tuple[np.ndarray, list[dict]]:
    """Surface displacement seen through the blanket, and the events added (for the truth file).

    breathing_allowed marks frames inside breathing segments, away from their ends: only there can
    a sigh or a swallow happen (they are breaths, or interrupt one).
    """
    n = len(breathing_mm)
    x = np.asarray(breathing_mm, dtype=float).copy()
    events: list[dict] = []
    margin = int(EDGE_MARGIN_S * fps)
    allowed = breathing_allowed.copy()
    if margin:
        # Keep respiratory events away from a breathing segment's ends.
        eroded = np.convolve(allowed.astype(int), np.ones(2 * margin + 1, dtype=int), mode="same") == 2 * margin + 1
        allowed &= eroded
    for i in _poisson_times(rng, knobs.sighs_per_h, allowed, fps):
        duration = rng.uniform(*SIGH_DURATION_RANGE_S)
        depth = rng.uniform(*SIGH_DEPTH_RANGE) * tidal_mm
        pause = rng.uniform(*POST_SIGH_PAUSE_RANGE_S)
        where, shape = _bump(n, fps, i, duration)
        x[where] += depth * shape
        after = min(n, i + int(round(duration * fps)))
        gate_where, gate = _gate(n, fps, after, pause)
        x[gate_where] *= gate
        events.append({"event": "sigh", "t_s": round(i / fps, 2), "depth_mm": round(float(depth), 2),
                       "pause_s": round(float(pause), 2)})
    for i in _poisson_times(rng, knobs.swallows_per_h, allowed, fps):
        pause = rng.uniform(*SWALLOW_APNEA_RANGE_S)
        gate_where, gate = _gate(n, fps, i, pause)
        x[gate_where] *= gate
        where, shape = _bump(n, fps, i, 0.6)
        size = rng.uniform(*SWALLOW_BUMP_RANGE_MM)
        x[where] += size * shape
        events.append({"event": "swallow", "t_s": round(i / fps, 2), "pause_s": round(float(pause), 2)})
    everywhere = np.ones(n, dtype=bool)
    for i in _poisson_times(rng, knobs.twitches_per_h, everywhere, fps):
        size = rng.uniform(*TWITCH_RANGE_MM) * rng.choice((-1.0, 1.0))
        where, shape = _bump(n, fps, i, rng.uniform(*TWITCH_DURATION_RANGE_S))
        x[where] += size * shape
        events.append({"event": "twitch", "t_s": round(i / fps, 2), "mm": round(float(size), 2)})
    x += cardiac_mm(n, fps, knobs.cardiac_pp_mm, knobs.heart_rate_bpm, knobs.rr_cv, rng)
    if knobs.blanket_tau_s > 0:
        alpha = 1.0 - np.exp(-1.0 / (fps * knobs.blanket_tau_s))
        x = sps.lfilter([alpha], [1.0, alpha - 1.0], x, zi=[(1.0 - alpha) * x[0]])[0] if n else x
    return knobs.blanket_gain * x, events
