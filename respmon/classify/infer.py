"""Classifying signals with a trained model: any rate, any length of at least one window.

The model runs on ONNX Runtime where it has its ONNX graph (a .onnx file, or the .onnx exported
beside a .pt: respmon.classify.onnx_model), without importing torch; on torch otherwise (a .pt
alone, as a fine-tune's candidate is until exported). Both give the same probabilities to 1e-4
(tests/test_onnx.py).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np

from respmon.classify.data import WINDOW_N, normalize_windows, resample_to_window_rate, windows_of
from respmon.classify.names import default_model
from respmon.classify.onnx_model import ModelError, onnx_for, softmax
from respmon.errors import UsageError
from respmon.patterns import PATTERNS
from respmon.sources.waveform import MAX_SIGNAL_ABS

LONG_SIGNAL_HOP_S = 30.0  # a signal longer than a window is read as windows this far apart


class PatternClassifier:
    def __init__(self, path: Path | None = None):
        path = Path(path) if path is not None else default_model()
        onnx = onnx_for(path)
        if onnx is not None:
            self.runtime, self._onnx, self.net, self.info = "onnxruntime", onnx, None, onnx.info
        else:
            if importlib.util.find_spec("torch") is None:
                raise ModelError(f"{path}: no ONNX graph exported from it beside it, and torch is not "
                                     f"installed to run a .pt: name its .onnx (respmon train writes one)")
            from respmon.classify.model_io import load_model

            self.runtime, self._onnx = "torch", None
            self.net, self.info = load_model(path)
        meta = self.info.get("meta", {})
        # a fine-tuned model names itself (arch@rev+ft.WEIGHTS): alerts must tell it from its base
        self.version = meta["version"] if isinstance(meta.get("version"), str) and meta["version"] else (
            f"{self.info['arch']}@{meta.get('code_revision', 'unknown')}")

    def probabilities(self, windows_10hz: np.ndarray) -> np.ndarray:
        """(N, 7) class probabilities of 60 s windows at 10 Hz, in any units."""
        x = normalize_windows(np.atleast_2d(windows_10hz))
        if self._onnx is not None:
            return softmax(self._onnx.logits(x).astype(np.float64)).astype(np.float32)
        import torch

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


def one_inference_thread() -> None:
    """Inference on one thread (one window a second: a pool costs more than it gives). ONNX
    Runtime's sessions are made so; torch, where a model runs on it, is set so here."""
    import sys

    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(1)


def describe(probs: np.ndarray) -> dict:
    """pattern, confidence and probs by name, JSON-ready."""
    best = int(np.argmax(probs))
    return {
        "pattern": PATTERNS[best],
        "confidence": round(float(probs[best]), 4),
        "probs": {name: round(float(p), 4) for name, p in zip(PATTERNS, probs)},
    }
