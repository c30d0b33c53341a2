"""Windows for the classifier: the training set from the RSM, and turning any signal into
normalised 60 s windows at 10 Hz."""

from __future__ import annotations

import numpy as np
from scipy import signal as sps

from respmon.patterns import PATTERNS
from respmon.progress import Progress

WINDOW_S = 60.0
RATE_HZ = 10.0
WINDOW_N = int(WINDOW_S * RATE_HZ)
# Camera noise added to a share of the physiological training windows (camera_noise below): what a
# D4xx stereo camera adds to the chest-region mean at 1-3 m, coloured, at most NOISE_AUGMENT_MAX times
# the window's breathing spread (RMS).
NOISE_AUGMENT_SHARE = 0.5
NOISE_AUGMENT_MAX = 0.5

# --- the D4xx depth noise of a chest-region mean -----------------------------------------------
# Per pixel, stereo depth error is the disparity error scaled by z^2: sigma_px = z^2 * s / (f * b)
# (Intel, "Tuning depth cameras for best performance": RMS error = distance^2 * subpixel RMS /
# (focal length in pixels * baseline)). D435: baseline 50 mm; f = 447 px at 848x480 (87 deg
# HFOV); subpixel RMS 0.05-0.1 for well-textured targets (same paper). That is 3.6 mm at 1 m and
# 14 mm (0.7 %) at 2 m for s = 0.08, within the datasheet's <= 2 % at 2 m.
# Averaging a chest region does not divide that by sqrt(pixels): matching costs are aggregated over
# windows of several pixels (census windows, semi-global smoothing), so errors are correlated over a
# length of L pixels and a region of N pixels holds about N / L^2 independent errors. A chest of
# A = 0.03-0.06 m^2 covers N = A * f^2 / z^2 pixels, so the region mean has
#     sigma_region = sigma_px / sqrt(N / L^2) = s * L * z^3 / (b * f^2 * sqrt(A)),
# about 0.4 mm at 1 m, 3 mm at 2 m and 10 mm at 3 m (s = 0.08, L = 10, A = 0.045): the z^3 law is
# why breathing of a few mm drowns between 2 and 3 m. L = 5-15 px is chosen (matching windows are
# 5-11 px; smoothing spreads errors further).
# In time this noise is not white: the per-frame (shot-noise) part is, but the matching error on a
# chest changes as the texture under each pixel changes with small body movements, auto-exposure
# steps and the projector's and sensor's temperature: a correlated part (AR(1), time constant
# 0.5-10 s, chosen to span the breathing band down to the wander band) and a drift (random walk;
# D4xx depth drifts with temperature). How the variance splits between white, correlated and drift
# is not published: drawn uniformly (Dirichlet). Depth quantisation (1 mm steps per pixel) averages
# out over hundreds of pixels carrying several mm of noise and is not modelled.
# A window keeps its label only while the breathing stays readable, so the drawn noise is capped at
# NOISE_AUGMENT_MAX times the breathing spread (as the white noise before it): farther than that the
# signal belongs to the noise class, which is made without breathing.
CAMERA_DISTANCE_RANGE_M = (1.0, 3.0)
CAMERA_BASELINE_MM = 50.0
CAMERA_FOCAL_PX = 447.0
CAMERA_SUBPIXEL_RMS = (0.05, 0.10)
CAMERA_CORRELATION_PX = (5.0, 15.0)
CHEST_AREA_M2 = (0.03, 0.06)
CAMERA_AR_TAU_S = (0.5, 10.0)
# A streaming window starts anywhere in the breathing cycle, while a simulated signal starts at a
# fixed point (the authors' segments at t = 0, physiological breaths at end-expiration). Training
# windows therefore start 0-10 s into their signal: every phase of any breath of 6 bpm or faster.
# Only where the shift cannot cut away the defining feature: the authors' signals are generated
# two periods long; physiological pause patterns (whose pauses may sit anywhere) are not shifted.
PHASE_SHIFT_MAX_S = 10.0
SHIFTABLE_PHYSIOLOGICAL = ("eupnea", "bradypnea", "tachypnea", "noise")


def normalize_windows(windows: np.ndarray) -> np.ndarray:
    """Per-window z-score, so millimetres, belt units and [0, 1] min–max all look alike."""
    x = np.asarray(windows, dtype=np.float32)
    x = x - x.mean(axis=-1, keepdims=True)
    std = x.std(axis=-1, keepdims=True)
    return x / np.maximum(std, 1e-6)


def resample_to_window_rate(samples: np.ndarray, rate_hz: float) -> np.ndarray:
    """A signal at rate_hz resampled to 10 Hz (polyphase, anti-aliased)."""
    x = np.asarray(samples, dtype=float)
    if abs(rate_hz - RATE_HZ) < 1e-9:
        return x
    from fractions import Fraction

    ratio = Fraction(RATE_HZ / rate_hz).limit_denominator(1000)
    return sps.resample_poly(x, ratio.numerator, ratio.denominator)


def windows_of(samples_10hz: np.ndarray, hop_s: float = WINDOW_S) -> np.ndarray:
    """Consecutive 60 s windows (hop_s apart) of a 10 Hz signal; empty if it is shorter."""
    x = np.asarray(samples_10hz, dtype=float)
    hop = max(1, int(round(hop_s * RATE_HZ)))
    starts = range(0, len(x) - WINDOW_N + 1, hop)
    return np.stack([x[s:s + WINDOW_N] for s in starts]) if len(x) >= WINDOW_N else np.empty((0, WINDOW_N))


def training_set(per_class_per_mode: int, seed: int, progress: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """(windows, class indices 0..6): both RSM modes, both releases of the authors' code.

    Physiological windows keep their artefacts (wander, motion, sensor noise) and half of them get
    the coloured noise of a D4xx camera at 1-3 m (camera_noise), so the classifier sees breathing at
    camera-like signal-to-noise ratios and noise spectra.
    """
    from sim.rsm_authors import authors_signal
    from sim.rsm_physiological import physiological_signal

    rng = np.random.default_rng(seed)
    windows, labels = [], []
    bar = Progress("generating training windows", len(PATTERNS) * per_class_per_mode * 2, enabled=progress)
    done = 0
    for index, pattern in enumerate(PATTERNS):
        for k in range(per_class_per_mode):
            version = "2019" if k % 2 == 0 else "2020"
            # Two of the authors' 60 s periods, so a shifted window still holds one whole period's
            # structure (its apnea included) and only starts later in the breathing.
            authors = authors_signal(pattern, rng, duration_s=2 * WINDOW_S, rate_hz=RATE_HZ, version=version)
            windows.append(_shifted_window(authors, rng))
            if pattern in SHIFTABLE_PHYSIOLOGICAL:
                x = physiological_signal(pattern, rng, duration_s=WINDOW_S + PHASE_SHIFT_MAX_S,
                                         rate_hz=RATE_HZ).displacement_mm
                x = _shifted_window(x, rng)
            else:
                x = physiological_signal(pattern, rng, duration_s=WINDOW_S, rate_hz=RATE_HZ).displacement_mm
            if rng.random() < NOISE_AUGMENT_SHARE:
                spread = float(np.percentile(x, 95) - np.percentile(x, 5))
                x = x + camera_noise(rng, len(x), RATE_HZ, max_rms=NOISE_AUGMENT_MAX * spread)
            windows.append(x)
            labels += [index, index]
            done += 2
            bar.update(done)
    bar.close()
    return normalize_windows(np.stack(windows)), np.asarray(labels, dtype=np.int64)


def camera_region_sigma_mm(distance_m: float, subpixel_rms: float, correlation_px: float,
                           chest_area_m2: float) -> float:
    """RMS depth noise of a chest-region mean at distance_m (see the derivation above)."""
    z_mm = distance_m * 1e3
    sigma_px = z_mm**2 * subpixel_rms / (CAMERA_FOCAL_PX * CAMERA_BASELINE_MM)
    pixels = chest_area_m2 * CAMERA_FOCAL_PX**2 / distance_m**2
    independent = max(1.0, pixels / correlation_px**2)
    return sigma_px / np.sqrt(independent)


def camera_noise(rng: np.random.Generator, n: int, rate_hz: float, max_rms: float | None = None) -> np.ndarray:
    """n samples of a D4xx camera's noise on a chest-region mean, in mm: white + AR(1) + drift.

    The camera distance, subpixel error, correlation length and chest area are drawn from their
    ranges; the total RMS is capped at max_rms.
    """
    sigma = camera_region_sigma_mm(rng.uniform(*CAMERA_DISTANCE_RANGE_M), rng.uniform(*CAMERA_SUBPIXEL_RMS),
                                   rng.uniform(*CAMERA_CORRELATION_PX), rng.uniform(*CHEST_AREA_M2))
    if max_rms is not None:
        sigma = min(sigma, max_rms)
    shares = rng.dirichlet(np.ones(3))
    white = rng.standard_normal(n)
    tau_s = float(np.exp(rng.uniform(*np.log(CAMERA_AR_TAU_S))))
    a = float(np.exp(-1.0 / (tau_s * rate_hz)))
    correlated = sps.lfilter([np.sqrt(1.0 - a * a)], [1.0, -a], rng.standard_normal(n))
    drift = np.cumsum(rng.standard_normal(n))
    parts = [white, correlated, drift]
    out = np.zeros(n)
    for share, part in zip(shares, parts):
        part = part - part.mean()
        out += np.sqrt(share) * part / max(float(part.std()), 1e-12)
    return sigma * out


def _shifted_window(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A window starting 0 to PHASE_SHIFT_MAX_S into x."""
    offset = int(rng.integers(0, int(PHASE_SHIFT_MAX_S * RATE_HZ) + 1))
    return x[offset:offset + WINDOW_N]


def test_set(per_class: int, seed: int, mode: str) -> tuple[np.ndarray, np.ndarray]:
    """Held-out windows of one mode ("authors" or "physiological"), no augmentation."""
    from sim.rsm_authors import authors_signal
    from sim.rsm_physiological import physiological_signal

    rng = np.random.default_rng(seed)
    windows, labels = [], []
    for index, pattern in enumerate(PATTERNS):
        for k in range(per_class):
            if mode == "authors":
                version = "2019" if k % 2 == 0 else "2020"
                windows.append(authors_signal(pattern, rng, duration_s=WINDOW_S, rate_hz=RATE_HZ, version=version))
            else:
                windows.append(physiological_signal(pattern, rng, duration_s=WINDOW_S, rate_hz=RATE_HZ).displacement_mm)
            labels.append(index)
    return normalize_windows(np.stack(windows)), np.asarray(labels, dtype=np.int64)

