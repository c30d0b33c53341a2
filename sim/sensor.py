"""What a real D4xx stereo depth camera adds to a clean depth image, from published characterisations.

A `SensorModel` is the harder sensor of the robustness matrix (`BedScene(..., sensor=...)`); the
scene's original noise (white, 1.5 mm at 1 m) stays the default of `respmon simulate recording`.
Every knob is a field of `SensorKnobs` and goes into the truth file.

Sources (values quoted where they set a number; "chosen" marks a modelling choice):
- [IntelTune] Grunnet-Jepsen, Sweetser, Woodfill, "Tuning depth cameras for best performance",
  Intel RealSense white paper (2019): depth RMS error = z² · subpixel / (focal_px · baseline);
  subpixel RMS about 0.08 px on well-textured scenes with the projector, 0.05 at best, worse on
  dark or low-texture surfaces. D435: baseline 50 mm, depth HFOV about 87°.
- [D400DS] Intel RealSense D400 Series datasheet: RMS error ≤ 2 % at 2 m (all resolutions).
- [Ahn19] Ahn et al., "Analysis and noise modeling of the Intel RealSense D435 for mobile robots",
  URAI 2019: axial noise grows with the square of distance; spatially correlated, in patches a few
  pixels wide (the stereo matcher aggregates its cost over a window).
- [Halm19] Halmetschlager-Funek et al., "An empirical evaluation of ten depth cameras", IEEE
  Robotics & Automation Magazine 26(1), 2019: depth drifts by a few mm while a camera warms up
  (tens of minutes), and whole frames fluctuate together from frame to frame.
- Flying pixels (depth mixed between foreground and background at discontinuities) and invalid
  (zero) pixels where matching fails: [IntelTune]; their rates here are chosen.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
from scipy import ndimage

D435_BASELINE_MM = 50.0  # [IntelTune]
SUBPIXEL_RANGE_PX = (0.05, 0.12)  # [IntelTune]: 0.05 best, 0.08 typical, worse on low texture
CORRELATION_RANGE_PX = (0.8, 2.5)  # [Ahn19]: patches a few pixels wide at 848x480; chosen at 424x240
# Whole-frame fluctuation, as a share of the per-pixel sigma at the same depth: chosen ([Halm19]
# reports frame-level jitter without one figure for it).
FRAME_OFFSET_SHARE_RANGE = (0.01, 0.08)
# Warm-up drift: the depth of the whole scene moves by up to a few mm over tens of minutes
# [Halm19]; scaled by (z / 1 m)². Amplitude and time constant chosen in that spirit.
WARMUP_DRIFT_RANGE_MM = (0.0, 4.0)
WARMUP_TAU_RANGE_S = (300.0, 1800.0)
# Slow wander (room temperature, the projector's duty): chosen, 0.1-1 mm over 2-10 min.
WANDER_RANGE_MM = (0.1, 1.0)
WANDER_PERIOD_RANGE_S = (120.0, 600.0)
FLYING_SHARE_RANGE = (0.1, 0.5)  # of the discontinuity pixels, per frame: chosen
DROPOUT_RANGE = (0.002, 0.03)  # invalid-pixel probability on good surfaces: chosen
EDGE_JUMP_MM = 40.0  # neighbouring pixels further apart than this form a depth discontinuity
NATIVE_WIDTH_PX = 848  # the correlation length above is in 848-wide pixels


@dataclass(frozen=True)
class SensorKnobs:
    subpixel_px: float  # stereo matching error, RMS in pixels [IntelTune]
    correlation_px: float  # Gaussian correlation length of the noise, in 848-wide pixels
    frame_offset_share: float  # whole-frame jitter sigma / per-pixel sigma
    warmup_drift_mm: float  # at 1 m; scaled by (z / 1 m)^2
    warmup_tau_s: float
    warmup_elapsed_s: float  # how long the camera had been on when the scene starts
    wander_mm: float
    wander_period_s: float
    flying_share: float
    dropout: float

    @classmethod
    def draw(cls, rng: np.random.Generator) -> "SensorKnobs":
        return cls(
            subpixel_px=float(rng.uniform(*SUBPIXEL_RANGE_PX)),
            correlation_px=float(rng.uniform(*CORRELATION_RANGE_PX)),
            frame_offset_share=float(rng.uniform(*FRAME_OFFSET_SHARE_RANGE)),
            warmup_drift_mm=float(rng.uniform(*WARMUP_DRIFT_RANGE_MM)),
            warmup_tau_s=float(rng.uniform(*WARMUP_TAU_RANGE_S)),
            warmup_elapsed_s=float(rng.uniform(0.0, 1800.0)),
            wander_mm=float(rng.uniform(*WANDER_RANGE_MM)),
            wander_period_s=float(rng.uniform(*WANDER_PERIOD_RANGE_S)),
            flying_share=float(rng.uniform(*FLYING_SHARE_RANGE)),
            dropout=float(rng.uniform(*DROPOUT_RANGE)),
        )

    def as_dict(self) -> dict:
        return {k: round(v, 5) for k, v in asdict(self).items()}


def pixel_sigma_mm(depth_mm: np.ndarray, focal_px: float, subpixel_px: float) -> np.ndarray:
    """Per-pixel depth RMS error (mm) at this depth and focal length [IntelTune]."""
    return (np.square(depth_mm, dtype=np.float32) * np.float32(subpixel_px / (focal_px * D435_BASELINE_MM)))


class SensorModel:
    """Per-frame corruption of a clean depth image (float32 mm) by one camera's knobs."""

    def __init__(self, knobs: SensorKnobs, width: int, focal_px: float, seed: int):
        self.knobs = knobs
        self.focal_px = focal_px
        self.rng = np.random.default_rng(seed)
        self.correlation_px = knobs.correlation_px * width / NATIVE_WIDTH_PX
        self._wander_phase = float(self.rng.uniform(0.0, 2.0 * math.pi))
        self._gain: float | None = None

    def _correlated_noise(self, shape: tuple[int, int]) -> np.ndarray:
        """Unit-variance Gaussian noise with a Gaussian spatial correlation of correlation_px."""
        white = self.rng.standard_normal(shape, dtype=np.float32)
        if self.correlation_px < 0.3:
            return white
        smooth = ndimage.gaussian_filter(white, self.correlation_px, mode="wrap")
        if self._gain is None:
            # Filtering white noise with a normalised Gaussian of width s scales its sigma by
            # 1 / (2 s sqrt(pi)) in 2-D; measure it once instead of trusting the continuum formula.
            probe = ndimage.gaussian_filter(np.random.default_rng(0).standard_normal((256, 256)).astype(np.float32),
                                            self.correlation_px, mode="wrap")
            self._gain = float(1.0 / probe.std())
        return smooth * np.float32(self._gain)

    def common_mm(self, t_s: float, typical_depth_mm: float) -> float:
        """Depth added to every pixel at t_s: warm-up drift, slow wander (not the frame jitter)."""
        k = self.knobs
        scale = (typical_depth_mm / 1000.0) ** 2
        warmup = k.warmup_drift_mm * scale * math.exp(-(k.warmup_elapsed_s + t_s) / k.warmup_tau_s)
        wander = k.wander_mm * math.sin(2.0 * math.pi * t_s / k.wander_period_s + self._wander_phase)
        return warmup + wander

    def corrupt(self, depth_mm: np.ndarray, sigma_mm: np.ndarray, t_s: float, typical_depth_mm: float,
                edge_index: np.ndarray, edge_near_mm: np.ndarray, edge_far_mm: np.ndarray,
                p_invalid: np.ndarray) -> np.ndarray:
        """Noisy uint16 depth (mm, 0 = invalid) from a clean float32 depth image."""
        k, rng = self.knobs, self.rng
        depth = depth_mm + self._correlated_noise(depth_mm.shape) * sigma_mm
        typical_sigma = float(pixel_sigma_mm(np.float32(typical_depth_mm), self.focal_px, k.subpixel_px))
        jitter = rng.standard_normal() * k.frame_offset_share * typical_sigma
        depth += np.float32(self.common_mm(t_s, typical_depth_mm) + jitter)
        flat = depth.reshape(-1)
        if edge_index.size:
            flying = rng.random(edge_index.size, dtype=np.float32) < k.flying_share
            mix = rng.random(int(flying.sum()), dtype=np.float32)
            near, far = edge_near_mm[flying], edge_far_mm[flying]
            flat[edge_index[flying]] = near + mix * (far - near)
        depth[rng.random(depth.shape, dtype=np.float32) < p_invalid] = 0.0
        np.clip(depth, 0.0, 65535.0, out=depth)
        return np.rint(depth).astype(np.uint16)

    def invalid_probability(self, depth_mm: np.ndarray, edge: np.ndarray) -> np.ndarray:
        """Per-pixel probability of a zero: the base dropout, more at discontinuities and far away."""
        z_m = depth_mm / 1000.0
        p = self.knobs.dropout + 0.25 * edge + 0.08 * np.clip((z_m - 1.6) / 0.6, 0.0, 1.0)
        p[depth_mm <= 0] = 1.0
        return p.astype(np.float32)
