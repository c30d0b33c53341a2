"""A trained classifier as an ONNX graph, run by ONNX Runtime: inference without torch.

`respmon train` (respmon.classify.model_io.save_model) writes `NAME.onnx` beside every `NAME.pt`:
the same network, its input a batch of z-scored 60 s windows at 10 Hz (`window`, float32,
(batch, 600)), its output the class logits (`logits`, (batch, 7)), and in the graph's metadata
(key "respmon") the .pt's format, architecture, classes and meta, plus `source_sha256`, the
sha256 of the .pt it was exported from. A .pt whose .onnx beside it was exported from another
.pt (the .pt was replaced, the .onnx not) is not paired with it.

Loading runs no code from the file (an ONNX graph is data) and this module does not import torch.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
from pathlib import Path

import numpy as np

from respmon.classify.names import ARCHS
from respmon.errors import UsageError
from respmon.patterns import PATTERNS

META_KEY = "respmon"
INPUT, OUTPUT = "window", "logits"


class ModelError(UsageError):
    """A model file (.pt or .onnx) that cannot be used; the message is one line."""


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def require_onnx_writer() -> None:
    """Before a training starts: the onnx package that writes its graph (respmon's train extra)."""
    if importlib.util.find_spec("onnx") is None:
        raise ModelError("writing the trained model's ONNX graph needs the onnx package "
                         "(pip install 'respmon[train]'): nothing trained")


def onnx_beside(pt_path: Path) -> Path:
    return Path(pt_path).with_suffix(".onnx")


class OnnxNet:
    """The network's logits for a float32 (batch, 600) array of z-scored windows, on one thread."""

    def __init__(self, path: Path):
        try:
            import onnxruntime as ort
        except ImportError:
            raise ModelError(f"{path}: ONNX Runtime is not installed (pip install onnxruntime)") from None
        options = ort.SessionOptions()
        # One window a second: a thread pool costs more than it gives, and the box has other work.
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        try:
            self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own types for any bad file
            raise ModelError(f"{path}: not a readable ONNX model ({type(exc).__name__})") from None
        names = ([i.name for i in self.session.get_inputs()], [o.name for o in self.session.get_outputs()])
        if names != ([INPUT], [OUTPUT]):
            raise ModelError(f"{path}: not a respmon classifier graph (inputs/outputs {names})")
        raw = self.session.get_modelmeta().custom_metadata_map.get(META_KEY)
        try:
            self.info = json.loads(raw) if raw else None
        except ValueError:
            self.info = None
        if not isinstance(self.info, dict) or self.info.get("classes") != list(PATTERNS) \
                or self.info.get("arch") not in ARCHS or not isinstance(self.info.get("meta", {}), dict):
            raise ModelError(f"{path}: not a respmon classifier graph (no or bad '{META_KEY}' metadata)")
        try:  # one window through it: (1, 600) in, 7 finite logits out
            probe = self.session.run([OUTPUT], {INPUT: np.zeros((1, 600), np.float32)})[0]
        except Exception as exc:
            raise ModelError(f"{path}: not a respmon classifier graph (it cannot run a window: "
                             f"{type(exc).__name__})") from None
        if np.shape(probe) != (1, len(PATTERNS)) or not np.all(np.isfinite(probe)):
            raise ModelError(f"{path}: not a respmon classifier graph (a window gives {np.shape(probe)}, "
                             f"not {len(PATTERNS)} finite logits)")

    def logits(self, windows: np.ndarray) -> np.ndarray:
        x = np.ascontiguousarray(windows, dtype=np.float32)
        if x.ndim != 2 or x.shape[1] != 600:
            raise ValueError(f"windows must be (batch, 600), got {x.shape}")
        if len(x) == 0:
            return np.zeros((0, len(PATTERNS)), np.float32)
        return self.session.run([OUTPUT], {INPUT: x})[0]


def softmax(logits: np.ndarray) -> np.ndarray:
    z = logits - logits.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def onnx_for(path: Path) -> OnnxNet | None:
    """The ONNX graph to run for model file `path`: the file itself if it is one; for a .pt, the
    .onnx beside it if that was exported from this very .pt; else None (and None for a .pt where
    ONNX Runtime is not installed: torch may still run it)."""
    path = Path(path)
    if path.suffix == ".onnx":
        if not path.is_file():
            raise ModelError(f"{path}: model file not found")
        return OnnxNet(path)
    beside = onnx_beside(path)
    if not beside.is_file():
        return None
    if importlib.util.find_spec("onnxruntime") is None:
        return None
    net = OnnxNet(beside)
    return net if path.is_file() and net.info.get("source_sha256") == file_sha256(path) else None
