"""Evaluation of the shipped BI-AT-GRU and every baseline on the same test sets, plus speed.

Run: .venv/bin/python bench/eval_classifier.py [--per-class 300] [--synthetic-only] [--models-dir DIR]

Test sets:
- held-out RSM windows of both modes, generated from seeds training never uses;
- the RSM authors' own output, ../shared/data/rsm-authors/Breathing_TRAIN.csv (never trained on);
- real breathing at rest: ../shared/data/rr-realsense (camera chest depth, paced 10 or 15 bpm: the
  implied patterns are bradypnea and eupnea) and NeuroKit2's resting belt recording (RSP, 100 Hz,
  about 16 bpm: eupnea), as 60 s windows every 30 s.
Speed on one core: ms per window at batch 1, windows per second at batch 64.
Prints markdown tables for the README and the model card.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse  # noqa: E402
import glob  # noqa: E402
import re  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402

from respmon.classify.data import normalize_windows, resample_to_window_rate, windows_of  # noqa: E402
from respmon.classify.metrics import classification_report  # noqa: E402
from respmon.classify.model_io import load_model  # noqa: E402
from respmon.classify.nets import parameter_count  # noqa: E402
from respmon.classify.rules import rule_classify_batch  # noqa: E402
from respmon.classify_cmd import held_out_sets, read_signal_rows  # noqa: E402
from respmon.patterns import PATTERNS, pattern_for_rate  # noqa: E402
from respmon.sources.waveform import read_waveform_csv  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data"
REAL_HOP_S = 30.0
BASELINES = (("BI-AT-LSTM", "biatlstm"), ("GRU", "gru"), ("LSTM", "lstm"), ("1-D CNN", "cnn"))


def model_files(folder: Path) -> dict[str, Path]:
    """The shipped layout: folder/biatgru.pt and folder/baselines/ARCH.pt."""
    return {"BI-AT-GRU": folder / "biatgru.pt",
            **{name: folder / "baselines" / f"{arch}.pt" for name, arch in BASELINES}}


def measured_subset(windows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The windows where respmon's rate stage measures a rate (quality >= 0.5), and the pattern that
    measured rate implies: what the daemon would pair with a pattern."""
    from respmon.signal.rate import estimate_rate

    keep, implied = [], []
    for i, window in enumerate(windows):
        estimate = estimate_rate(window, 10.0)
        if estimate.rate_bpm is not None and estimate.quality >= 0.5:
            keep.append(i)
            implied.append(PATTERNS.index(pattern_for_rate(estimate.rate_bpm)))
    return windows[keep], np.asarray(implied, dtype=np.int64)


def real_windows() -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Normalised 60 s windows of real resting breathing and the pattern their paced rate implies."""
    sets: dict[str, tuple[list, list]] = {}
    for path in sorted(glob.glob(str(DATA / "rr-realsense" / "*_C.csv"))):
        bpm, metres = re.search(r"(\d+)bpm_(\d)m", path).groups()
        t, v, _ = read_waveform_csv(Path(path), "displacement")
        uniform_t = np.arange(t[0], t[-1], 1 / 15.0)
        windows = windows_of(resample_to_window_rate(np.interp(uniform_t, t, v), 15.0), REAL_HOP_S)
        implied = PATTERNS.index(pattern_for_rate(float(bpm)))
        xs, ys = sets.setdefault(f"rr-realsense {metres} m", ([], []))
        xs.extend(windows)
        ys.extend([implied] * len(windows))
    belt = DATA / "neurokit" / "bio_resting_5min_100hz.csv"
    if belt.exists():
        _, rsp, _ = read_waveform_csv(belt, "RSP", 100.0)
        windows = windows_of(resample_to_window_rate(rsp, 100.0), REAL_HOP_S)
        sets["NeuroKit2 belt, rest"] = (list(windows), [PATTERNS.index("eupnea")] * len(windows))
    out = {}
    for name, (x, y) in sets.items():
        if x:
            windows = normalize_windows(np.stack(x))
            out[name] = (windows, np.asarray(y))
            out[f"{name}, rated"] = measured_subset(windows)
    return out


def speed(net) -> tuple[float, float]:
    torch.set_num_threads(1)
    one = torch.randn(1, 600)
    batch = torch.randn(64, 600)
    with torch.no_grad():
        for _ in range(20):
            net(one)
        started = time.perf_counter()
        for _ in range(200):
            net(one)
        latency_ms = (time.perf_counter() - started) / 200 * 1e3
        net(batch)
        started = time.perf_counter()
        for _ in range(10):
            net(batch)
        throughput = 640 / (time.perf_counter() - started)
    return latency_ms, throughput


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-class", type=int, default=300)
    parser.add_argument("--synthetic-only", action="store_true",
                        help="leave out the real recordings: check a candidate's synthetic targets before "
                             "the real data is looked at")
    parser.add_argument("--models-dir", type=Path, default=REPO / "models",
                        help="where biatgru.pt and baselines/ARCH.pt are (default: the shipped models)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    test_sets = {f"held-out RSM, {mode}": xy for mode, xy in held_out_sets(args.per_class).items()}
    authors = DATA / "rsm-authors" / "Breathing_TRAIN.csv"
    if authors.exists():
        rows, labels = read_signal_rows(authors, "first-column")
        test_sets["authors' Breathing_TRAIN.csv"] = (normalize_windows(np.stack(rows)), labels)
    else:
        print(f"note: {authors} not found: the authors' file is left out", file=sys.stderr)
    real = real_windows() if DATA.exists() and not args.synthetic_only else {}

    predictors = {}
    info = {}
    for name, path in model_files(args.models_dir).items():
        if not path.exists():
            print(f"note: {path} not found: {name} left out", file=sys.stderr)
            continue
        net, meta = load_model(path)
        predictors[name] = lambda x, net=net: torch.softmax(net(torch.from_numpy(x)), 1).argmax(1).numpy()
        latency_ms, throughput = speed(net)
        info[name] = {"params": parameter_count(net), "ms": latency_ms, "per_s": throughput,
                      "train_s": meta["meta"].get("training_wall_s")}
    predictors["rules (rate + apnea)"] = lambda x: rule_classify_batch(x, 10.0)
    started = time.perf_counter()
    rule_classify_batch(test_sets[next(iter(test_sets))][0][:100], 10.0)
    info["rules (rate + apnea)"] = {"params": 0, "ms": (time.perf_counter() - started) * 10, "per_s": None,
                                    "train_s": None}

    results: dict[str, dict[str, dict]] = {}
    for name, predict in predictors.items():
        for set_name, (x, y) in {**test_sets, **real}.items():
            with torch.no_grad():
                predicted = np.concatenate([predict(x[i:i + 256]) for i in range(0, len(x), 256)])
            results.setdefault(set_name, {})[name] = classification_report(y, predicted)
        print(f"evaluated {name}", file=sys.stderr)

    for set_name in test_sets:
        print(f"\n### {set_name} ({len(test_sets[set_name][1])} windows)\n")
        print("| model | accuracy | macro precision | macro recall | macro F1 | parameters | ms per window (batch 1) "
              "| windows/s (batch 64) | training s |")
        print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
        for name, report in results[set_name].items():
            i = info[name]
            per_s = f"{i['per_s']:.0f}" if i["per_s"] else "—"
            train_s = f"{i['train_s']:.0f}" if i["train_s"] else "—"
            print(f"| {name} | {report['accuracy']:.4f} | {report['macro_precision']:.4f} | "
                  f"{report['macro_recall']:.4f} | {report['macro_f1']:.4f} | {i['params']:,} | {i['ms']:.2f} | "
                  f"{per_s} | {train_s} |")
    if real:
        print("\n### Real breathing at rest: share of 60 s windows given the implied pattern\n")
        print("Plain rows: every window, against the pattern the paced rate implies (bradypnea at 10 bpm, eupnea at "
              "15 bpm; eupnea for the NeuroKit2 belt). 'rated' rows: only the windows where respmon's rate stage "
              "measures a rate (quality >= 0.5), against the pattern that measured rate implies.\n")
        names = list(predictors)
        print("| set | windows | " + " | ".join(names) + " |")
        print("| --- | --- | " + " | ".join("---" for _ in names) + " |")
        for set_name, (x, y) in real.items():
            cells = " | ".join(f"{results[set_name][n]['accuracy']:.0%}" for n in names)
            print(f"| {set_name} | {len(y)} | {cells} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
