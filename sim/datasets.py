"""Many simulated signals at once: `count` per pattern, in pattern order, with authors' labels."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from respmon.patterns import label_of


def per_pattern_dataset(patterns: Sequence[str], count: int, n_samples: int,
                        make_signal: Callable[[str], np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """(labels int64, signals [rows, n_samples]); make_signal(pattern) draws one signal."""
    labels = np.repeat([label_of(p) for p in patterns], count).astype(np.int64)
    signals = np.empty((len(patterns) * count, n_samples))
    row = 0
    for pattern in patterns:
        for _ in range(count):
            signals[row] = make_signal(pattern)
            row += 1
    return labels, signals
