"""Windows for the classifier: the training set from the RSM, and turning any signal into
normalised 60 s windows at 10 Hz."""

from __future__ import annotations

import numpy as np

from respmon.patterns import PATTERNS
from respmon.progress import Progress

WINDOW_S = 60.0
RATE_HZ = 10.0
WINDOW_N = int(WINDOW_S * RATE_HZ)
# Extra white noise added to a share of the physiological training windows, as a fraction of the
# window's breathing spread: a camera at 2–3 m sees a few mm of noise on a few mm of breathing.
NOISE_AUGMENT_SHARE = 0.5
NOISE_AUGMENT_MAX = 0.5
# A streaming window starts anywhere in the breathing cycle, while a simulated signal starts at a
# fixed point (the authors' segments at t = 0, physiological breaths at end-expiration). Training
# windows therefore start 0-10 s into their signal: every phase of any breath of 6 bpm or faster.
# Only where the shift cannot cut away the defining feature: the authors' signals are generated
# two periods long; physiological pause patterns (whose pauses may sit anywhere) are not shifted.
PHASE_SHIFT_MAX_S = 10.0
SHIFTABLE_PHYSIOLOGICAL = ("eupnea", "bradypnea", "tachypnea", "noise")
# Camera windows' depth noise at most this share of the breathing's spread, the top of the white
# augmentation above: where the noise reaches the breathing's own spread a pause no longer shows,
# and a pause pattern's window then teaches the network that noisy regular breathing is an apnea
# (a candidate trained with 1.0 read a clean 19 bpm sine as central_apnea: models/README.md, step 6).
CAMERA_NOISE_MAX_SHARE = NOISE_AUGMENT_MAX
# Each window the pipeline extracted from a rendered scene counts this many times: there are few
# of them (70 minutes of rendering gave 1,110) and they are the nearest thing to the daemon's input.
SCENE_WINDOW_REPEAT = 3


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

    from scipy import signal as sps  # here only: importing it costs 0.6 s and 76 MB

    ratio = Fraction(RATE_HZ / rate_hz).limit_denominator(1000)
    return sps.resample_poly(x, ratio.numerator, ratio.denominator)


def windows_of(samples_10hz: np.ndarray, hop_s: float = WINDOW_S) -> np.ndarray:
    """Consecutive 60 s windows (hop_s apart) of a 10 Hz signal; empty if it is shorter."""
    x = np.asarray(samples_10hz, dtype=float)
    hop = max(1, int(round(hop_s * RATE_HZ)))
    starts = range(0, len(x) - WINDOW_N + 1, hop)
    return np.stack([x[s:s + WINDOW_N] for s in starts]) if len(x) >= WINDOW_N else np.empty((0, WINDOW_N))


def training_set(per_class_per_mode: int, seed: int, progress: bool = True,
                 scene_windows: tuple[np.ndarray, np.ndarray] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(windows, class indices 0..6): both RSM modes, both releases of the authors' code, and
    RSM signals as a camera would show them; plus, if given, windows the pipeline extracted from
    rendered scenes (bench/extract_scene_windows.py), repeated SCENE_WINDOW_REPEAT times.

    Physiological windows keep their artefacts (wander, motion, sensor noise) and half of them get
    extra white noise, so the classifier sees breathing at camera-like signal-to-noise ratios.
    Camera windows (sim/camera_signal.py) are physiological signals as the camera shows them: the
    chest under a blanket, with heartbeat, sighs, swallows and twitches, and the depth noise of a
    camera at 0.8-2.5 m, capped at CAMERA_NOISE_MAX_SHARE of the breathing's spread; regular
    breathing there varies from breath to breath as much as a resting adult's. Only the
    physiological mode goes through the camera: its signals are chest displacement in mm, while the
    authors' are piecewise sines with offset steps at random breakpoints, min-max scaled, which a
    blanket and a heartbeat do not make into anything a chest does. Trained with the authors' mode
    through the camera too, the network read clean 16.5-19 bpm sines as central_apnea (103 of the
    sweep's phases at 500 windows per class and mode); without it, none (models/README.md, step 7).
    """
    from respmon.sim.rsm_authors import authors_signal
    from respmon.sim.rsm_physiological import physiological_signal

    rng = np.random.default_rng(seed)
    windows, labels = [], []
    bar = Progress("generating training windows", len(PATTERNS) * per_class_per_mode * 3, enabled=progress)
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
                x = x + rng.normal(0.0, rng.uniform(0.0, NOISE_AUGMENT_MAX) * spread, len(x))
            windows.append(x)
            windows.append(camera_window(pattern, rng, "physiological"))
            labels += [index, index, index]
            done += 3
            bar.update(done)
    bar.close()
    if scene_windows is not None:
        scene_x, scene_y = scene_windows
        windows += list(np.repeat(np.asarray(scene_x, dtype=float), SCENE_WINDOW_REPEAT, axis=0))
        labels += list(np.repeat(np.asarray(scene_y, dtype=np.int64), SCENE_WINDOW_REPEAT))
    return normalize_windows(np.stack(windows)), np.asarray(labels, dtype=np.int64)


def camera_window(pattern: str, rng: np.random.Generator, mode: str, version: str = "2020") -> np.ndarray:
    """One 60 s window (mm, 10 Hz) of an RSM signal of `mode` as a depth camera shows it."""
    from respmon.sim.camera_signal import CameraSignalKnobs, resting_breath_cv, through_camera
    from respmon.sim.rsm_authors import authors_signal
    from respmon.sim.rsm_physiological import DEPTH_RANGE_MM, physiological_components

    regular = pattern in ("eupnea", "bradypnea", "tachypnea")
    if mode == "authors":
        scaled = authors_signal(pattern, rng, duration_s=2 * WINDOW_S, rate_hz=RATE_HZ, version=version)
        chest_mm = _shifted_window(scaled, rng) * rng.uniform(*DEPTH_RANGE_MM)
    else:
        shift = pattern in SHIFTABLE_PHYSIOLOGICAL
        # Regular breathing varies from breath to breath as a resting adult's does, more than the RSM.
        parts = physiological_components(pattern, rng, duration_s=WINDOW_S + (PHASE_SHIFT_MAX_S if shift else 0.0),
                                         rate_hz=RATE_HZ, breath_cv=resting_breath_cv(rng) if regular else None)
        # Breathing and slow wander (a body motion would restart the pipeline's signal, and the
        # camera brings its own noise); the noise class is all artefact.
        chest_mm = parts.signal.displacement_mm if pattern == "noise" else parts.breathing_mm + parts.wander_mm
        chest_mm = _shifted_window(chest_mm, rng) if shift else chest_mm
    knobs = CameraSignalKnobs.draw(rng)
    cap = None if pattern == "noise" else CAMERA_NOISE_MAX_SHARE
    return through_camera(chest_mm, knobs, rng, respiratory_events=regular, max_noise_share=cap)


def _shifted_window(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A window starting 0 to PHASE_SHIFT_MAX_S into x."""
    offset = int(rng.integers(0, int(PHASE_SHIFT_MAX_S * RATE_HZ) + 1))
    return x[offset:offset + WINDOW_N]


def test_set(per_class: int, seed: int, mode: str) -> tuple[np.ndarray, np.ndarray]:
    """Held-out windows of one mode, no augmentation: "authors", "physiological", or "camera" (both
    modes through sim/camera_signal.py, as training's camera windows)."""
    from respmon.sim.rsm_authors import authors_signal
    from respmon.sim.rsm_physiological import physiological_signal

    rng = np.random.default_rng(seed)
    windows, labels = [], []
    for index, pattern in enumerate(PATTERNS):
        for k in range(per_class):
            if mode == "authors":
                version = "2019" if k % 2 == 0 else "2020"
                windows.append(authors_signal(pattern, rng, duration_s=WINDOW_S, rate_hz=RATE_HZ, version=version))
            elif mode == "camera":
                version = "2019" if k % 4 == 1 else "2020"
                windows.append(camera_window(pattern, rng, "authors" if k % 2 else "physiological", version))
            else:
                windows.append(physiological_signal(pattern, rng, duration_s=WINDOW_S, rate_hz=RATE_HZ).displacement_mm)
            labels.append(index)
    return normalize_windows(np.stack(windows)), np.asarray(labels, dtype=np.int64)

