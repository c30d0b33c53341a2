"""Clean sines across the rate range: does a model read noise-free regular breathing as the
pattern its rate implies, at every phase a streaming window can start in?

Run: .venv/bin/python bench/sweep_sines.py [MODEL.pt]    (default: the shipped model)

Sines from 6 to 35 bpm every 0.5 bpm, 48 phases each, skipping 0.5 bpm either side of the class
limits (12 and 20 bpm), where either answer is defensible. Prints the rates with a wrong phase and
the total; exit 0 either way (a figure for the model card, not a test: tests/test_shipped_model.py
asserts the shipped model's bounds).
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from pathlib import Path

import numpy as np

from respmon.classify.data import RATE_HZ, WINDOW_N, normalize_windows
from respmon.classify.model_io import load_model
from respmon.classify.train import predict
from respmon.patterns import BRADYPNEA_BELOW_BPM, PATTERNS, TACHYPNEA_ABOVE_BPM, pattern_for_rate

RATES_BPM = np.arange(6.0, 35.01, 0.5)
PHASES = 48
LIMIT_MARGIN_BPM = 0.5


def sweep(net) -> dict[float, Counter]:
    """{rate: Counter of wrong answers} for the rates with at least one wrong phase."""
    t = np.arange(WINDOW_N) / RATE_HZ
    wrong = {}
    for rate in RATES_BPM:
        if any(abs(rate - limit) <= LIMIT_MARGIN_BPM for limit in (BRADYPNEA_BELOW_BPM, TACHYPNEA_ABOVE_BPM)):
            continue
        phases = 2 * np.pi * np.arange(PHASES) / PHASES
        x = np.sin(2 * np.pi * rate / 60.0 * t[None, :] + phases[:, None])
        answers = [PATTERNS[k] for k in predict(net, normalize_windows(x)).argmax(1)]
        bad = Counter(a for a in answers if a != pattern_for_rate(float(rate)))
        if bad:
            wrong[float(rate)] = bad
    return wrong


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", type=Path, nargs="?", default=None, help="default: the shipped model")
    args = parser.parse_args()
    net, _ = load_model(args.model)
    wrong = sweep(net)
    for rate, bad in wrong.items():
        print(f"{rate:5.1f} bpm ({pattern_for_rate(rate)}): {dict(bad)} of {PHASES} phases")
    total = sum(sum(b.values()) for b in wrong.values())
    print(json.dumps({"wrong_phases": total, "rates_with_a_wrong_phase": len(wrong)}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
