"""Saving and loading a trained classifier: tensors and plain metadata only, so loading runs no
code (`torch.load(weights_only=True)`)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import torch

from respmon.classify.names import default_model
from respmon.classify.nets import ARCHS, build
from respmon.classify.onnx_model import ModelError  # noqa: F401  (re-exported)
from respmon.errors import UsageError
from respmon.patterns import PATTERNS

FORMAT = "respmon-classifier"
FORMAT_VERSION = 1
DEFAULT_MODEL = default_model()


def code_revision(folder: Path | None = None) -> str:
    """The git commit the code came from ('-dirty' when it had uncommitted changes), or 'unknown'
    outside a checkout."""
    try:
        out = subprocess.run(["git", "describe", "--always", "--dirty", "--abbrev=7"],
                             cwd=folder or Path(__file__).parent,
                             capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return out.stdout.strip() if out.returncode == 0 and out.stdout.strip() else "unknown"


def save_model(path: Path, net: torch.nn.Module, arch: str, meta: dict, onnx: bool = True) -> None:
    """NAME.pt and, with onnx, NAME.onnx beside it (respmon.classify.onnx_export)."""
    payload = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "arch": arch,
        "classes": list(PATTERNS),
        "state_dict": {k: v.detach().cpu().clone() for k, v in net.state_dict().items()},
        "meta": meta,
    }
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    try:
        torch.save(payload, tmp)
        tmp.replace(path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise UsageError(f"{path}: cannot write model: {exc.strerror or exc}") from None
    if onnx:  # what the daemon runs, on ONNX Runtime
        from respmon.classify.onnx_export import export_onnx

        export_onnx(net, {k: v for k, v in payload.items() if k != "state_dict"}, path)


def load_model(path: Path | None = None) -> tuple[torch.nn.Module, dict]:
    """(network in eval mode, payload without the weights)."""
    path = Path(path) if path is not None else DEFAULT_MODEL
    if not path.is_file():
        raise ModelError(f"{path}: model file not found")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for a bad file; all mean the same here
        raise ModelError(f"{path}: not a readable model file ({type(exc).__name__})") from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise ModelError(f"{path}: not a respmon classifier file")
    if payload.get("format_version") != FORMAT_VERSION:
        raise ModelError(f"{path}: model format version {payload.get('format_version')} is not supported")
    if payload.get("arch") not in ARCHS or payload.get("classes") != list(PATTERNS):
        raise ModelError(f"{path}: unknown architecture or class list")
    net = build(payload["arch"])
    try:
        net.load_state_dict(payload["state_dict"])
    except (RuntimeError, KeyError) as exc:
        raise ModelError(f"{path}: weights do not fit the {payload['arch']} network: "
                         f"{' '.join(str(exc).split())[:200]}") from None
    net.eval()
    return net, {k: v for k, v in payload.items() if k != "state_dict"}
