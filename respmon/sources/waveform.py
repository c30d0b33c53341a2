"""A breathing waveform from a CSV file: a time column and a value column.

Time is `t` (seconds) or `timestamp` (milliseconds); without either, the sample rate must be
given. The value column is named with `column`, or is the only other column.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from respmon.errors import UsageError
from respmon.sources.clock import MAX_SOURCE_TIME_S

TIME_COLUMNS = {"t": 1.0, "timestamp": 0.001}  # name → seconds per unit


class WaveformError(UsageError):
    """A waveform file that cannot be used; the message is one line."""


# Any unit a chest signal comes in (mm, raw counts, belt force) stays far below; beyond float32's
# range the classifier's input is inf (respmon.classify.infer).
MAX_SIGNAL_ABS = 1e9


def read_waveform_csv(path: Path, column: str | None = None,
                      rate_hz: float | None = None) -> tuple[np.ndarray, np.ndarray, str]:
    """(t_s, values, value column name); times start wherever the file starts."""
    path = Path(path)
    try:
        with open(path, newline="", encoding="utf-8") as handle:
            rows = list(csv.reader(handle))
    except FileNotFoundError:
        raise WaveformError(f"{path}: file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise WaveformError(f"{path}: cannot read: {exc}") from None
    rows = [row for row in rows if any(cell.strip() for cell in row)]
    if not rows:
        raise WaveformError(f"{path}: empty file")
    header = [cell.strip() for cell in rows[0]]
    if all(_is_number(cell) for cell in header):
        raise WaveformError(f"{path}: no header line; the first line must name the columns")
    time_name = next((name for name in header if name in TIME_COLUMNS), None)
    candidates = [name for name in header if name != time_name]
    if column is None:
        if len(candidates) != 1:
            raise WaveformError(f"{path}: several value columns ({', '.join(candidates)}); pick one with --column")
        column = candidates[0]
    elif column not in header:
        raise WaveformError(f"{path}: no column {column!r} (columns: {', '.join(header)})")
    value_index = header.index(column)
    time_index = header.index(time_name) if time_name is not None else None
    if time_index is None and rate_hz is None:
        raise WaveformError(f"{path}: no time column (t or timestamp): give the sample rate with --rate-hz")
    values, times = [], []
    for line_number, row in enumerate(rows[1:], start=2):
        try:
            values.append(float(row[value_index]))
            if time_index is not None:
                times.append(float(row[time_index]) * TIME_COLUMNS[time_name])
        except (ValueError, IndexError):
            raise WaveformError(f"{path}:{line_number}: not a number in column {column!r} or the time column") from None
    if not values:
        raise WaveformError(f"{path}: no samples")
    v = np.asarray(values, dtype=float)
    if time_index is None:
        t = np.arange(len(v)) / rate_hz
    else:
        t = np.asarray(times, dtype=float)
        if len(t) > 1 and np.any(np.diff(t) <= 0):
            raise WaveformError(f"{path}: time column {time_name!r} does not increase")
    if not np.all(np.isfinite(v)) or not np.all(np.isfinite(t)):
        raise WaveformError(f"{path}: values must be finite numbers")
    if np.max(np.abs(t)) > MAX_SOURCE_TIME_S or np.max(np.abs(v)) > MAX_SIGNAL_ABS:
        raise WaveformError(f"{path}: times must be within +-{MAX_SOURCE_TIME_S:g} s and values within "
                            f"+-{MAX_SIGNAL_ABS:g}")
    return t, v, column


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True
