"""The rule-based baseline classifier (respmon.classify.rules) on simulated windows.

Run: .venv/bin/python bench/eval_rules.py [--count N]

For each mode, N windows per pattern (default 200), 60 s at 10 Hz:
  authors-2019 / authors-2020: sim.rsm_authors.authors_signal (min-max [0, 1]);
  physiological:               sim.rsm_physiological.physiological_signal (mm, with artefacts).
Prints, per mode, a markdown table of per-class metrics, accuracy and the confusion matrix.

The seeds (EVAL_SEED below) are not the ones the rule thresholds were chosen on; nothing here
reads ../shared/data.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from respmon.classify.metrics import classification_report, format_report  # noqa: E402
from respmon.classify.rules import rule_classify_batch  # noqa: E402
from respmon.patterns import PATTERNS  # noqa: E402
from respmon.sim.rsm_authors import authors_signal  # noqa: E402
from respmon.sim.rsm_physiological import physiological_signal  # noqa: E402

EVAL_SEED = 20240917
MODES = ("authors-2019", "authors-2020", "physiological")
RATE_HZ = 10.0
DURATION_S = 60.0


def windows(mode: str, count: int) -> tuple[np.ndarray, np.ndarray]:
    """(class indices, windows [rows, 600]) for one mode, count per pattern."""
    rows, labels = [], []
    for k, pattern in enumerate(PATTERNS):
        rng = np.random.default_rng([EVAL_SEED, MODES.index(mode), k])
        for _ in range(count):
            if mode == "physiological":
                x = physiological_signal(pattern, rng, duration_s=DURATION_S, rate_hz=RATE_HZ).displacement_mm
            else:
                x = authors_signal(pattern, rng, duration_s=DURATION_S, rate_hz=RATE_HZ, version=mode[-4:])
            rows.append(x)
            labels.append(k)
    return np.asarray(labels), np.vstack(rows)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=200, help="windows per pattern and mode")
    args = parser.parse_args(argv)
    summary = []
    for mode in MODES:
        y, x = windows(mode, args.count)
        t0 = time.perf_counter()
        pred = rule_classify_batch(x, RATE_HZ)
        elapsed = time.perf_counter() - t0
        report = classification_report(y, pred)
        summary.append((mode, report, len(y), elapsed))
        print(f"## {mode} ({args.count} windows per pattern)\n")
        print(format_report(report))
        print()
    print("## Summary\n")
    print("| mode | windows | accuracy | macro F1 | ms / window |")
    print("|---|---:|---:|---:|---:|")
    for mode, report, n, elapsed in summary:
        print(f"| {mode} | {n} | {report['accuracy']:.3f} | {report['macro_f1']:.3f} | {1000 * elapsed / n:.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
