"""A breathing signal as the pipeline would extract it from a depth camera, without rendering a
scene: the body model (sim/body.py) and the D4xx noise (sim/sensor.py) applied at the level of
the 10 Hz chest signal. For training and testing the classifier on camera-like signals by the
thousand; the matrix's rendered scenes (sim/matrix.py) remain the test of the whole path.

What the chest signal carries, and where each number comes from:
- the surface motion through the blanket, with heartbeat, sighs, swallows and twitches: sim/body.py
  and its sources;
- the depth noise of the tracked region's mean. Per pixel, Intel's stereo RMS error
  z² · subpixel / (focal_px · baseline) [IntelTune, sim/sensor.py]; spatially correlated with a
  Gaussian length of s pixels [Ahn19], so a region of N pixels averages it like N / (4π s²)
  independent ones (the variance of the mean of a Gaussian-correlated field over an area much
  larger than s); the frames of each 0.1 s are averaged (respmon.signal.resample), so the sample's
  noise is the frame's over sqrt(fps / 10);
- the whole-frame jitter [Halm19] that the chest stage's still-block reference leaves: a share of
  it, chosen;
- the tracked region: a part of the torso whose breathing weight is 0.5-1 (sim/scene.py's
  chest 1, abdomen 0.5-0.6) over 0.03-0.15 m² (sim/scene.py's chest and abdomen, weight >= 0.5,
  is about 0.13-0.15 m²; the search may keep only a part of it): chosen;
- the depth mode: the daemon's 848x480 at 30 fps half the time, the other D4xx modes it accepts
  otherwise: chosen.

And what real resting breathing does that the RSM's regular breathing does not: breath-to-breath
coefficients of variation of 20.8 +/- 11.5 % for the rate and 33 +/- 14.9 % for the tidal volume
(65 healthy adults, 15 min each; Tobin et al., "Variability of resting respiratory drive and timing
in healthy subjects", J Appl Physiol 65(1):309-317, 1988), where the RSM draws 5-15 % and 10-20 %.
RESTING_PERIOD_CV_RANGE and RESTING_DEPTH_CV_RANGE are their mean +/- 1 SD.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

from respmon.sim.body import BodyKnobs, add_body_motion
from respmon.sim.matrix import DISTANCE_RANGE_M as MATRIX_DISTANCE_RANGE_M
from respmon.sim.scene import d4xx_intrinsics
from respmon.sim.sensor import (CORRELATION_RANGE_PX, FRAME_OFFSET_SHARE_RANGE, NATIVE_WIDTH_PX, SUBPIXEL_RANGE_PX,
                                pixel_sigma_mm)

DISTANCE_RANGE_M = MATRIX_DISTANCE_RANGE_M  # where the bed is: the matrix's 0.8-2.5 m
REGION_AREA_RANGE_M2 = (0.03, 0.15)
BREATHING_WEIGHT_RANGE = (0.5, 1.0)
JITTER_RESIDUAL_SHARE_RANGE = (0.0, 0.3)
# (width, height, fps, probability): the D4xx depth modes the daemon accepts.
DEPTH_MODES = ((848, 480, 30.0, 0.5), (848, 480, 15.0, 0.1), (640, 480, 30.0, 0.15),
               (424, 240, 30.0, 0.1), (424, 240, 15.0, 0.15))
SIGNAL_RATE_HZ = 10.0
RESTING_PERIOD_CV_RANGE = (0.093, 0.323)
RESTING_DEPTH_CV_RANGE = (0.181, 0.479)


def resting_breath_cv(rng: np.random.Generator) -> tuple[float, float]:
    """(period, depth) breath-to-breath coefficients of variation of a resting adult [Tobin88]."""
    return float(rng.uniform(*RESTING_PERIOD_CV_RANGE)), float(rng.uniform(*RESTING_DEPTH_CV_RANGE))


@dataclass(frozen=True)
class CameraSignalKnobs:
    distance_m: float
    width_px: int
    height_px: int
    fps: float
    subpixel_px: float
    correlation_px: float  # in 848-wide pixels, as in sim/sensor.py
    frame_offset_share: float
    jitter_residual_share: float
    region_area_m2: float
    breathing_weight: float
    body: BodyKnobs

    @classmethod
    def draw(cls, rng: np.random.Generator, distance_range_m: tuple[float, float] = DISTANCE_RANGE_M
             ) -> "CameraSignalKnobs":
        modes = DEPTH_MODES
        width, height, fps, _ = modes[int(rng.choice(len(modes), p=[m[3] for m in modes]))]
        return cls(
            distance_m=float(rng.uniform(*distance_range_m)),
            width_px=int(width),
            height_px=int(height),
            fps=float(fps),
            subpixel_px=float(rng.uniform(*SUBPIXEL_RANGE_PX)),
            correlation_px=float(rng.uniform(*CORRELATION_RANGE_PX)),
            frame_offset_share=float(rng.uniform(*FRAME_OFFSET_SHARE_RANGE)),
            jitter_residual_share=float(rng.uniform(*JITTER_RESIDUAL_SHARE_RANGE)),
            region_area_m2=float(rng.uniform(*REGION_AREA_RANGE_M2)),
            breathing_weight=float(rng.uniform(*BREATHING_WEIGHT_RANGE)),
            body=BodyKnobs.draw(rng),
        )

    def as_dict(self) -> dict:
        d = {k: (round(v, 5) if isinstance(v, float) else v) for k, v in asdict(self).items() if k != "body"}
        d["body"] = self.body.as_dict()
        return d


def chest_noise_sigma_mm(knobs: CameraSignalKnobs) -> float:
    """RMS depth noise of one 10 Hz chest-signal sample for these knobs (white)."""
    z_mm = knobs.distance_m * 1000.0
    focal_px = d4xx_intrinsics(knobs.width_px, knobs.height_px).fx
    per_pixel = float(pixel_sigma_mm(np.float32(z_mm), focal_px, knobs.subpixel_px))
    pixel_m = knobs.distance_m / focal_px
    pixels = knobs.region_area_m2 / pixel_m**2
    s = max(0.5, knobs.correlation_px * knobs.width_px / NATIVE_WIDTH_PX)
    independent = max(1.0, pixels / (4.0 * math.pi * s * s))
    region = per_pixel / math.sqrt(independent)
    jitter = knobs.jitter_residual_share * knobs.frame_offset_share * per_pixel
    frames_per_sample = max(1.0, knobs.fps / SIGNAL_RATE_HZ)
    return math.sqrt(region**2 + jitter**2) / math.sqrt(frames_per_sample)


def through_camera(breathing_mm: np.ndarray, knobs: CameraSignalKnobs, rng: np.random.Generator,
                   respiratory_events: bool = True, max_noise_share: float | None = None) -> np.ndarray:
    """The 10 Hz chest signal (mm) a camera with these knobs gives of a chest breathing as
    breathing_mm (10 Hz, mm toward the camera).

    respiratory_events: sighs and swallows may happen (regular breathing; a pause pattern's
    structure is left as drawn). max_noise_share caps the noise at that share of the surface
    breathing's spread (5th to 95th percentile): a window whose breathing the camera cannot show at
    all says nothing about its pattern.
    """
    x = np.asarray(breathing_mm, dtype=float)
    n = len(x)
    tidal = float(np.percentile(x, 95) - np.percentile(x, 5)) if n else 0.0
    tidal = tidal if tidal > 0 else 1.0  # sighs are sized by it
    allowed = np.full(n, respiratory_events)
    surface, _ = add_body_motion(x, SIGNAL_RATE_HZ, knobs.body, allowed, tidal, rng)
    surface = knobs.breathing_weight * surface
    sigma = chest_noise_sigma_mm(knobs)
    if max_noise_share is not None and n:
        spread = float(np.percentile(surface, 95) - np.percentile(surface, 5))
        sigma = min(sigma, max_noise_share * spread)
    return surface + rng.normal(0.0, sigma, n)
