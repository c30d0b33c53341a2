"""Inference speed of every model on ONE core: ONNX Runtime (what run/replay/classify/evaluate use)
next to torch (training's runtime), ms per 60 s window at batch 1 and windows/s at batch 64.

Run: .venv/bin/python bench/bench_inference.py

Threads are set to 1 (OMP/MKL variables before numpy, torch.set_num_threads(1), the session's own
intra/inter-op threads) and the process is pinned to one CPU. Each figure is the median of 7
rounds of 300 calls (batch 1) or 20 calls (batch 64) after 50 warm-up calls; the windows are held-out
RSM windows. Writes bench/results/inference.json.
"""

from __future__ import annotations

import os

for variable in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ[variable] = "1"
os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})

import json  # noqa: E402
import platform  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import torch  # noqa: E402

from respmon.classify.data import normalize_windows, test_set  # noqa: E402
from respmon.classify.infer import PatternClassifier  # noqa: E402
from respmon.classify.model_io import load_model  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
MODELS = ["biatgru.pt", "baselines/gru.pt", "baselines/lstm.pt", "baselines/biatlstm.pt", "baselines/cnn.pt"]


def per_call_s(call, rounds: int, calls: int) -> float:
    for _ in range(50):
        call()
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        for _ in range(calls):
            call()
        times.append((time.perf_counter() - start) / calls)
    return statistics.median(times)


def main() -> int:
    torch.set_num_threads(1)
    x = normalize_windows(test_set(10, 2_000_002, "physiological")[0][:64])
    one, batch = x[:1], x[:64]
    results = {}
    print("| model | ONNX Runtime ms/window, batch 1 | torch ms/window, batch 1 | ONNX Runtime windows/s, batch 64 "
          "| torch windows/s, batch 64 |\n| --- | ---: | ---: | ---: | ---: |")
    for name in MODELS:
        path = REPO / "models" / name
        onnx_net = PatternClassifier(path)._onnx
        net, info = load_model(path)
        with torch.no_grad():
            t1, t64 = torch.from_numpy(one), torch.from_numpy(batch)
            row = {
                "onnx_ms_batch1": per_call_s(lambda: onnx_net.logits(one), 7, 300) * 1e3,
                "torch_ms_batch1": per_call_s(lambda: net(t1), 7, 300) * 1e3,
                "onnx_windows_per_s_batch64": 64 / per_call_s(lambda: onnx_net.logits(batch), 7, 20),
                "torch_windows_per_s_batch64": 64 / per_call_s(lambda: net(t64), 7, 20),
            }
        results[info["arch"]] = {k: round(v, 4 if "ms" in k else 0) for k, v in row.items()}
        r = results[info["arch"]]
        print(f"| {info['arch']} | {r['onnx_ms_batch1']:.3f} | {r['torch_ms_batch1']:.3f} | "
              f"{r['onnx_windows_per_s_batch64']:.0f} | {r['torch_windows_per_s_batch64']:.0f} |")
    import onnxruntime

    out = REPO / "bench" / "results" / "inference.json"
    out.write_text(json.dumps({"cpu": platform.processor() or platform.machine(), "threads": 1,
                               "onnxruntime": onnxruntime.__version__, "torch": torch.__version__,
                               "models": results}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
