"""`respmon train`, `respmon evaluate`, `respmon classify`: the CLI edge of respmon.classify."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np

from respmon.config import load_config
from respmon.errors import UsageError
from respmon.patterns import PATTERNS

# Held-out test sets: seeds that training never uses (train refuses them).
TEST_SEEDS = {"authors": 2_000_001, "physiological": 2_000_002, "camera": 2_000_003}
VALIDATION_SEED_OFFSET = 1_000_000
TEST_PER_CLASS = 300


def _torch_threads(threads: int) -> None:
    import torch

    torch.set_num_threads(threads)


def model_path(args, config) -> Path | None:
    if getattr(args, "model", None) is not None:
        return args.model
    return Path(config.classifier.model) if config.classifier.model else None


def held_out_sets(per_class: int = TEST_PER_CLASS) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    from respmon.classify.data import test_set

    return {mode: test_set(per_class, seed, mode) for mode, seed in TEST_SEEDS.items()}


def run_train(args) -> int:
    if getattr(args, "finetune", None) is not None:
        from respmon.finetune_cmd import run_finetune

        return run_finetune(args)
    for option, dest in (("--from", "from_model"), ("--out", "out"), ("--rsm-per-class", "rsm_per_class")):
        if getattr(args, dest, None) is not None:
            raise UsageError(f"{option} needs --finetune")
    from respmon.classify.data import training_set
    from respmon.classify.metrics import classification_report
    from respmon.classify.model_io import code_revision, save_model
    from respmon.classify.onnx_model import require_onnx_writer
    from respmon.classify.train import predict, train

    config = load_config(args.config)
    settings = config.classifier
    epochs = args.epochs if args.epochs is not None else settings.epochs
    seed = args.seed if args.seed is not None else settings.seed
    per_class = args.per_class if args.per_class is not None else settings.train_per_class
    if seed in TEST_SEEDS.values() or seed + VALIDATION_SEED_OFFSET in TEST_SEEDS.values():
        raise UsageError(f"--seed {seed} is reserved for the held-out test sets")
    out = args.model if args.model is not None else Path(f"{args.arch}.pt")
    if out.suffix != ".pt":
        raise UsageError(f"--model: {out} must end in .pt")
    if not out.parent.is_dir():
        raise UsageError(f"--model: folder {out.parent} does not exist")
    if args.plot is not None and args.plot.suffix.lower() not in (".png", ".svg", ".pdf"):
        raise UsageError(f"--plot: {args.plot} must end in .png, .svg or .pdf")
    scene = load_scene_windows(args.scene_windows) if args.scene_windows is not None else None
    require_onnx_writer()
    _torch_threads(settings.threads)
    started = time.monotonic()
    x, y = training_set(per_class, seed, scene_windows=scene)
    x_val, y_val = training_set(max(20, per_class // 10), seed + VALIDATION_SEED_OFFSET, progress=False)
    net, history = train(args.arch, x, y, epochs=epochs, seed=seed, x_val=x_val, y_val=y_val)
    metrics = {}
    for mode, (xt, yt) in held_out_sets().items():
        report = classification_report(yt, predict(net, xt).argmax(1))
        metrics[mode] = {"accuracy": report["accuracy"], "macro_f1": report["macro_f1"]}
    meta = {
        "rate_hz": 10.0, "window_s": 60.0, "normalisation": "z-score per window",
        "seed": seed, "epochs": epochs, "train_per_class_per_mode": per_class,
        "scene_windows": None if scene is None else {"file": args.scene_windows.name, "windows": int(len(scene[1]))},
        "code_revision": code_revision(), "held_out": metrics,
        "training_wall_s": round(time.monotonic() - started, 1),
        "command": " ".join(["respmon", *sys.argv[1:]]) if sys.argv and sys.argv[0].endswith("respmon") else "",
        "history": {"loss": history.loss, "train_accuracy": history.train_accuracy,
                    "val_accuracy": history.val_accuracy},
    }
    save_model(out, net, args.arch, meta)
    if args.plot is not None:
        from respmon.plot import plot_history

        plot_history(args.plot, history, title=f"{args.arch}, seed {seed}")
    print(json.dumps({"model": str(out), "arch": args.arch, "held_out": metrics,
                      "training_wall_s": meta["training_wall_s"]}))
    return 0


def load_scene_windows(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """(windows, class indices) of a file written by bench/extract_scene_windows.py."""
    from respmon.classify.data import WINDOW_N

    try:
        with np.load(path, allow_pickle=False) as data:
            windows, labels = np.asarray(data["windows"]), np.asarray(data["labels"])
    except FileNotFoundError:
        raise UsageError(f"--scene-windows: {path} does not exist") from None
    except (OSError, ValueError, KeyError) as exc:
        raise UsageError(f"--scene-windows: {path} is not a scene-window file (.npz with windows and labels): "
                         f"{str(exc).splitlines()[0] if str(exc) else type(exc).__name__}") from None
    if windows.ndim != 2 or windows.shape[1] != WINDOW_N or len(labels) != len(windows):
        raise UsageError(f"--scene-windows: {path}: expected windows of {WINDOW_N} samples and one label each, "
                         f"got windows {windows.shape} and {labels.shape} labels")
    if not np.issubdtype(labels.dtype, np.integer) or (labels.size and not 0 <= labels.min() <= labels.max() < len(PATTERNS)):
        raise UsageError(f"--scene-windows: {path}: labels must be class indices 0..{len(PATTERNS) - 1}")
    if not np.isfinite(windows).all():
        raise UsageError(f"--scene-windows: {path}: windows hold NaN or infinite samples")
    return windows.astype(np.float64), labels.astype(np.int64)


def read_signal_rows(path: Path, labels: str | None) -> tuple[list[np.ndarray], np.ndarray | None]:
    """Rows of a CSV with one signal per row (optionally a label first, as the authors' files)."""
    from respmon.sources.waveform import MAX_WAVEFORM_BYTES, open_regular_text

    rows: list[np.ndarray] = []
    try:
        with open_regular_text(path, MAX_WAVEFORM_BYTES) as handle:  # refuses fifos, devices, folders
            lines = handle.read().splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"{path}: cannot read: {exc}") from None
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            values = np.array([float(v) for v in line.split(",") if v.strip() != ""])
        except ValueError:
            raise UsageError(f"{path}:{number}: not a row of numbers") from None
        if not len(values):
            raise UsageError(f"{path}:{number}: not a row of numbers")
        if not np.all(np.isfinite(values)):
            raise UsageError(f"{path}:{number}: values must be finite numbers")
        rows.append(values)
    if not rows:
        raise UsageError(f"{path}: no signals")
    if labels != "first-column":
        return rows, None
    label_values = np.array([r[0] for r in rows])
    if not np.all(np.isin(label_values, np.arange(1, len(PATTERNS) + 1))):
        raise UsageError(f"{path}: first column must hold labels 1..{len(PATTERNS)} (--labels first-column)")
    return [r[1:] for r in rows], label_values.astype(int) - 1


def run_classify(args) -> int:
    from respmon.classify.infer import PatternClassifier, describe, one_inference_thread
    from respmon.classify.metrics import classification_report

    config = load_config(args.config)
    signals, truth = read_signal_rows(args.file, args.labels)
    classifier = PatternClassifier(model_path(args, config))
    one_inference_thread()
    predicted = []
    for row, samples in enumerate(signals):
        try:
            probs = classifier.classify_signal(samples, args.rate_hz)
        except UsageError as exc:
            raise UsageError(f"{args.file}: row {row + 1}: {exc}") from None
        predicted.append(int(np.argmax(probs)))
        line = {"row": row, **describe(probs)}
        if truth is not None:
            line["label"] = PATTERNS[truth[row]]
        print(json.dumps(line))
    summary = {"type": "summary", "rows": len(signals), "model": classifier.version}
    if truth is not None:
        report = classification_report(truth, predicted)
        summary.update(accuracy=report["accuracy"], macro_f1=report["macro_f1"], classes=list(PATTERNS),
                       confusion=report["confusion"])
    print(json.dumps(summary))
    return 0


def run_evaluate(args) -> int:
    from respmon.classify.infer import PatternClassifier
    from respmon.classify.metrics import classification_report, format_report

    if getattr(args, "compare", None) is not None:
        from respmon.finetune_cmd import run_compare

        return run_compare(args)
    if getattr(args, "card", None) is not None:
        raise UsageError("--card needs --compare")
    data = args.data
    if isinstance(data, list):  # --data FILE [FILE ...]: one file here, several with --compare
        if len(data) != 1:
            raise UsageError("--data takes one file (several only with --compare)")
        data = data[0]
    config = load_config(args.config)
    classifier = PatternClassifier(model_path(args, config))
    if data is not None:
        if args.rate_hz is None:
            raise UsageError("--data needs --rate-hz")
        signals, truth = read_signal_rows(data, args.labels)
        if truth is None:
            raise UsageError("--data needs labels to evaluate against: --labels first-column")
        predicted = [int(np.argmax(classifier.classify_signal(s, args.rate_hz))) for s in signals]
        sets = {data.name: classification_report(truth, predicted)}
    else:
        sets = {}
        for mode, (x, y) in held_out_sets().items():
            sets[f"held-out RSM, {mode} mode"] = classification_report(y, classifier.probabilities(x).argmax(1))
    for name, report in sets.items():
        print(f"## {name} ({classifier.version})\n")
        print(format_report(report))
    if args.plot is not None:
        from respmon.plot import plot_confusion

        plot_confusion(args.plot, sets)
    return 0
