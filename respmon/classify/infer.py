"""Classifying signals with a trained model: any rate, any length of at least one window."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from respmon.classify.data import WINDOW_N, normalize_windows, resample_to_window_rate, windows_of
from respmon.classify.model_io import load_model
from respmon.errors import UsageError
from respmon.patterns import PATTERNS
from respmon.sources.waveform import MAX_SIGNAL_ABS

LONG_SIGNAL_HOP_S = 30.0  # a signal longer than a window is read as windows this far apart


class PatternClassifier:
    def __init__(self, path: Path | None = None):
        self.net, self.info = load_model(path)
        meta = self.info.get("meta", {})
        # a fine-tuned model names itself (arch@rev+ft.WEIGHTS): alerts must tell it from its base
        self.version = meta["version"] if isinstance(meta.get("version"), str) and meta["version"] else (
            f"{self.info['arch']}@{meta.get('code_revision', 'unknown')}")

    def probabilities(self, windows_10hz: np.ndarray) -> np.ndarray:
        """(N, 7) class probabilities of 60 s windows at 10 Hz, in any units."""
        x = normalize_windows(np.atleast_2d(windows_10hz))
        with torch.no_grad():
            return torch.softmax(self.net(torch.from_numpy(x)), dim=1).numpy()

    def classify_signal(self, samples: np.ndarray, rate_hz: float) -> np.ndarray:
        """Probabilities (7,) for one signal: resampled to 10 Hz, windowed, window results averaged."""
        values = np.asarray(samples, dtype=float)
        if not np.all(np.isfinite(values)) or (len(values) and float(np.max(np.abs(values))) > MAX_SIGNAL_ABS):
            # beyond float32's range the network's input is inf: NaN out, "eupnea" with confidence NaN
            raise UsageError(f"signal values must be finite and within +-{MAX_SIGNAL_ABS:g}")
        x = resample_to_window_rate(values, rate_hz)
        if len(x) < WINDOW_N:
            raise UsageError(f"signal of {len(samples) / rate_hz:.1f} s is shorter than the "
                             f"{WINDOW_N / 10:.0f} s window the classifier needs")
        windows = windows_of(x, LONG_SIGNAL_HOP_S)
        return self.probabilities(windows).mean(axis=0)


def describe(probs: np.ndarray) -> dict:
    """pattern, confidence and probs by name, JSON-ready."""
    best = int(np.argmax(probs))
    return {
        "pattern": PATTERNS[best],
        "confidence": round(float(probs[best]), 4),
        "probs": {name: round(float(p), 4) for name, p in zip(PATTERNS, probs)},
    }
