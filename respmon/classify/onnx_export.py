"""Writing a trained network's ONNX graph beside its .pt (training only: needs torch and onnx).

The graph and its metadata are what respmon.classify.onnx_model reads; the metadata is the .pt's
payload without the weights, plus the .pt's sha256 (`source_sha256`).
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import torch

from respmon.classify.onnx_model import INPUT, META_KEY, OUTPUT, file_sha256, onnx_beside
from respmon.errors import UsageError

OPSET = 17


def export_onnx(net: torch.nn.Module, info: dict, pt_path: Path) -> Path:
    """NAME.onnx beside pt_path (already written), from `net` (eval mode) and `info` (the .pt's
    payload without its weights). Written to a temporary file and renamed over the target."""
    try:
        import onnx
    except ImportError:
        raise UsageError("writing the ONNX graph needs the onnx package (pip install 'respmon[train]')") from None
    out = onnx_beside(pt_path)
    tmp = out.with_name(out.name + ".tmp")
    was_training = net.training
    net.eval()
    try:
        with warnings.catch_warnings():  # the TorchScript exporter's deprecation notice
            warnings.simplefilter("ignore")
            torch.onnx.export(net, (torch.zeros(1, 600),), str(tmp), input_names=[INPUT], output_names=[OUTPUT],
                              dynamic_axes={INPUT: {0: "batch"}, OUTPUT: {0: "batch"}}, opset_version=OPSET,
                              dynamo=False)
        graph = onnx.load(str(tmp))
        entry = graph.metadata_props.add()
        entry.key, entry.value = META_KEY, json.dumps({**info, "source_sha256": file_sha256(pt_path)})
        onnx.save(graph, str(tmp))
        tmp.replace(out)
    except OSError as exc:
        raise UsageError(f"{out}: cannot write the ONNX graph: {exc.strerror or exc}") from None
    finally:
        tmp.unlink(missing_ok=True)  # renamed over the target when it all went well
        net.train(was_training)
    return out
