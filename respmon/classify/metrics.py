"""Classification metrics for the breathing-pattern classifiers, without scikit-learn.

Class indices are 0..n-1 (index = authors' label - 1, see respmon.patterns). Per class, in
one-vs-rest terms: precision TP/(TP+FP), recall (sensitivity) TP/(TP+FN), specificity
TN/(TN+FP), F1 the harmonic mean of precision and recall.

A class absent from both y_true and y_pred says nothing about the classifier: its metrics are
None and it is left out of the macro averages. A class with support that is never predicted has
precision 0.0 (not undefined), and so F1 0.0; a class predicted but without support has recall
None (no positives to find) and precision 0.0.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from respmon.patterns import PATTERNS


def confusion_matrix(y_true, y_pred, n_classes: int = 7) -> np.ndarray:
    """Counts [true, predicted] (rows: true class, columns: predicted class), int64."""
    t = np.asarray(y_true, dtype=np.int64).ravel()
    p = np.asarray(y_pred, dtype=np.int64).ravel()
    if t.shape != p.shape:
        raise ValueError(f"y_true and y_pred differ in length: {t.size} vs {p.size}")
    for name, a in (("y_true", t), ("y_pred", p)):
        if a.size and (a.min() < 0 or a.max() >= n_classes):
            raise ValueError(f"{name} holds class indices outside 0..{n_classes - 1}")
    cm = np.zeros((n_classes, n_classes), dtype=np.int64)
    np.add.at(cm, (t, p), 1)
    return cm


def _ratio(num: float, den: float) -> float | None:
    return float(num / den) if den > 0 else None


def _mean(values) -> float | None:
    present = [v for v in values if v is not None]
    return float(np.mean(present)) if present else None


def classification_report(y_true, y_pred, names: Sequence[str] = PATTERNS) -> dict:
    """Accuracy, macro averages and per-class metrics; see the module docstring for None/0.0."""
    names = tuple(names)
    cm = confusion_matrix(y_true, y_pred, len(names))
    total = int(cm.sum())
    per_class: dict[str, dict] = {}
    for k, name in enumerate(names):
        tp = int(cm[k, k])
        support = int(cm[k, :].sum())
        predicted = int(cm[:, k].sum())
        fp = predicted - tp
        fn = support - tp
        tn = total - tp - fp - fn
        if support == 0 and predicted == 0:
            per_class[name] = {"precision": None, "recall": None, "specificity": None,
                               "f1": None, "support": 0}
            continue
        precision = _ratio(tp, predicted) if predicted else 0.0
        recall = _ratio(tp, support)
        specificity = _ratio(tn, tn + fp)
        if recall is None:
            f1 = None
        else:
            f1 = 2 * precision * recall / (precision + recall) if precision + recall > 0 else 0.0
        per_class[name] = {"precision": precision, "recall": recall, "specificity": specificity,
                           "f1": f1, "support": support}
    rows = per_class.values()
    return {
        "accuracy": _ratio(int(np.trace(cm)), total),
        "macro_precision": _mean(r["precision"] for r in rows),
        "macro_recall": _mean(r["recall"] for r in rows),
        "macro_f1": _mean(r["f1"] for r in rows),
        "macro_specificity": _mean(r["specificity"] for r in rows),
        "per_class": per_class,
        "confusion": cm.tolist(),
    }


def _fmt(v) -> str:
    return "–" if v is None else f"{v:.3f}"


def format_report(report: dict) -> str:
    """Markdown: per-class table, accuracy and macro averages, confusion matrix with names."""
    names = list(report["per_class"])
    lines = ["| class | precision | recall | specificity | F1 | support |",
             "|---|---:|---:|---:|---:|---:|"]
    for name, r in report["per_class"].items():
        lines.append(f"| {name} | {_fmt(r['precision'])} | {_fmt(r['recall'])} | "
                     f"{_fmt(r['specificity'])} | {_fmt(r['f1'])} | {r['support']} |")
    lines.append(f"| **macro** | {_fmt(report['macro_precision'])} | {_fmt(report['macro_recall'])} | "
                 f"{_fmt(report['macro_specificity'])} | {_fmt(report['macro_f1'])} | "
                 f"{sum(r['support'] for r in report['per_class'].values())} |")
    lines += ["", f"Accuracy: {_fmt(report['accuracy'])}", "",
              "Confusion matrix (rows: true, columns: predicted):", "",
              "| true \\ predicted | " + " | ".join(names) + " |",
              "|---|" + "---:|" * len(names)]
    for name, row in zip(names, report["confusion"]):
        lines.append(f"| {name} | " + " | ".join(str(v) for v in row) + " |")
    return "\n".join(lines)
