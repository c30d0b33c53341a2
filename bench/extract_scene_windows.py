"""Classifier training windows from what the pipeline extracts: development scenes of the
robustness matrix (sim/matrix.py, DEV_SEEDS only) rendered in the daemon's depth mode and run
through the monitoring path; every HOP_S seconds the 60 s the classifier would read is kept,
labelled from the scene's truth.

Run: .venv/bin/python bench/extract_scene_windows.py --count 60 [--jobs 2] --out models/training/scene-windows.npz

Labels: sim.truth.window_pattern (one pattern per window from the scene's segments; a window
across a change of pattern, or starting in an apnea, is left out).

Only development seeds are read; the held-out split stays for reporting. The output holds the
windows as float32 in the pipeline's millimetres, their labels, seeds and times.
"""

from __future__ import annotations

import argparse
import multiprocessing
import sys
from pathlib import Path

import numpy as np

from respmon.classify.data import WINDOW_N
from respmon.config import default_config
from respmon.monitor import Monitor
from respmon.patterns import PATTERNS
from respmon.progress import Progress
from respmon.sim.matrix import build_scene, draw_scene, frames
from respmon.sim.truth import window_pattern

sys.path.insert(0, str(Path(__file__).parent))
from eval_matrix import DEV_SEEDS  # noqa: E402

HOP_S = 5


class WindowTap:
    """Stands where the classifier stands in the Monitor: keeps what it is asked to classify."""

    def __init__(self):
        self.windows: list[np.ndarray] = []

    def classify_signal(self, samples: np.ndarray, rate_hz: float) -> np.ndarray:
        self.windows.append(np.asarray(samples, dtype=np.float32).copy())
        return np.full(len(PATTERNS), 1.0 / len(PATTERNS))


def run_scene(seed: int) -> dict:
    config = default_config()
    camera = config.camera
    scene = build_scene(draw_scene(seed), float(camera.fps))
    tap = WindowTap()
    monitor = Monitor(config, fps=float(camera.fps), width=camera.width, classifier=tap)
    kept_t: list[int] = []

    def take(lines):
        for line in lines:
            if line.get("pattern") is not None:
                kept_t.append(int(line["t"]))

    t_end = 0.0
    for t_s, depth in frames(scene, camera.width, camera.height):
        take(monitor.frame(t_s, depth, 1.0))
        t_end = t_s
    take(monitor.finish(t_end + 1.0 / scene.fps))
    assert len(kept_t) == len(tap.windows)
    windows, labels, times = [], [], []
    for t, window in zip(kept_t, tap.windows):
        if t % HOP_S:
            continue
        label = window_pattern(scene.timeline.segments, float(t))
        if label is not None:
            windows.append(window)
            labels.append(PATTERNS.index(label))
            times.append(t)
    return {"seed": seed, "windows": windows, "labels": labels, "times": times}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, required=True, help="the first N development scenes")
    parser.add_argument("--first", type=int, default=0, help="skip this many development scenes")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    if args.count < 1 or args.jobs < 1 or args.first < 0:
        parser.error("--count and --jobs must be positive, --first not negative")
    seeds = list(DEV_SEEDS)[args.first:args.first + args.count]
    bar = Progress("scene windows", len(seeds))
    results = []

    def _quiet():
        import torch

        torch.set_num_threads(1)

    with multiprocessing.get_context("fork").Pool(args.jobs, _quiet) as pool:
        for result in pool.imap_unordered(run_scene, seeds):
            results.append(result)
            bar.update(len(results))
    bar.close()
    results.sort(key=lambda r: r["seed"])
    windows = [w for r in results for w in r["windows"]]
    out = {
        "windows": np.stack(windows).astype(np.float32) if windows else np.empty((0, WINDOW_N), np.float32),
        "labels": np.asarray([x for r in results for x in r["labels"]], dtype=np.int64),
        "seeds": np.asarray([r["seed"] for r in results for _ in r["windows"]], dtype=np.int64),
        "times_s": np.asarray([x for r in results for x in r["times"]], dtype=np.int64),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(args.out, **out)
    counts = np.bincount(out["labels"], minlength=len(PATTERNS))
    print(f"{len(out['labels'])} windows from {len(results)} scenes: "
          + ", ".join(f"{p} {c}" for p, c in zip(PATTERNS, counts)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
