"""A breathing waveform from a CSV file: a time column and a value column.

Time is `t` (seconds) or `timestamp` (milliseconds); without either, the sample rate must be
given. The value column is named with `column`, or is the only other column.
"""

from __future__ import annotations

import array
import csv
import os
import stat
from pathlib import Path
from typing import TextIO

import numpy as np

from respmon.errors import UsageError, short_repr
from respmon.sources.clock import MAX_SOURCE_TIME_S

TIME_COLUMNS = {"t": 1.0, "timestamp": 0.001}  # name → seconds per unit


class WaveformError(UsageError):
    """A waveform file that cannot be used; the message is one line."""


# Any unit a chest signal comes in (mm, raw counts, belt force) stays far below; beyond float32's
# range the classifier's input is inf (respmon.classify.infer).
MAX_SIGNAL_ABS = 1e9
# A night at 100 Hz with a time column is about 60 MB; a file far larger is not a breathing
# waveform, and reading it would take the machine's memory (a CSV linked to /dev/zero did).
MAX_WAVEFORM_BYTES = 256 * 1024 * 1024
# A cell holds a number or a column name; the csv module's own limit (128 KB) ended in a traceback.
MAX_CELL_CHARS = 1000


def open_regular_text(path: Path, limit: int) -> TextIO:
    """A regular file of at most `limit` bytes, opened as UTF-8 text for csv (a byte-order mark is
    skipped). Opened without blocking, so that a fifo or a device in its place is refused rather
    than waited on (a fifo hung `respmon replay` for ever) or read without end (/dev/zero)."""
    path = Path(path)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        raise WaveformError(f"{path}: file not found") from None
    except OSError as exc:
        raise WaveformError(f"{path}: cannot read: {exc.strerror or exc}") from None
    try:
        info = os.fstat(fd)
        if stat.S_ISDIR(info.st_mode):
            raise WaveformError(f"{path}: cannot read: a folder, not a file")
        if not stat.S_ISREG(info.st_mode):
            raise WaveformError(f"{path}: cannot read: not a regular file (a fifo or a device?)")
        if info.st_size > limit:
            raise WaveformError(f"{path}: too large ({info.st_size} bytes; at most {limit})")
        return os.fdopen(fd, "r", encoding="utf-8-sig", newline="")
    except BaseException:
        os.close(fd)
        raise


def read_waveform_csv(path: Path, column: str | None = None,
                      rate_hz: float | None = None) -> tuple[np.ndarray, np.ndarray, str]:
    """(t_s, values, value column name); times start wherever the file starts."""
    path = Path(path)
    with open_regular_text(path, MAX_WAVEFORM_BYTES) as handle:
        try:
            return _read(path, csv.reader(handle), column, rate_hz)
        except UnicodeDecodeError as exc:
            raise WaveformError(f"{path}: cannot read: not UTF-8 text ({exc.reason})") from None
        except OSError as exc:
            raise WaveformError(f"{path}: cannot read: {exc.strerror or exc}") from None


def _rows(path: Path, reader):
    """(line number where it starts, cells) of each row that is not blank."""
    start = 1
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise WaveformError(f"{path}:{start}: not a CSV file ({exc})") from None
        if any(len(cell) > MAX_CELL_CHARS for cell in row):
            hint = " (a quote never closed?)" if any("\n" in cell or "\r" in cell for cell in row) else ""
            raise WaveformError(f"{path}:{start}: a cell of over {MAX_CELL_CHARS} characters{hint}")
        if any(cell.strip() for cell in row):
            yield start, row
        start = reader.line_num + 1


def _names(names: list[str]) -> str:
    """Column names for an error line: each cut short and escaped, at most 8 of them."""
    shown = [name if name.isprintable() and len(name) <= 40 else short_repr(name, 40) for name in names[:8]]
    return ", ".join(shown) + (f", ... ({len(names)} in all)" if len(names) > 8 else "")


def _read(path: Path, reader, column: str | None, rate_hz: float | None):
    rows = _rows(path, reader)
    first = next(rows, None)
    if first is None:
        raise WaveformError(f"{path}: empty file")
    header = [cell.strip() for cell in first[1]]
    if all(_is_number(cell) for cell in header):
        raise WaveformError(f"{path}: no header line; the first line must name the columns")
    if len(header) == 1 and any(sep in header[0] for sep in ";\t|"):
        raise WaveformError(f"{path}: one column named {short_repr(header[0], 40)}: columns must be "
                            "separated by commas")
    time_name = next((name for name in header if name in TIME_COLUMNS), None)
    candidates = [name for name in header if name != time_name and name]
    if column is None:
        if not candidates:
            raise WaveformError(f"{path}: no value column (columns: {_names(header)})")
        if len(candidates) != 1:
            raise WaveformError(f"{path}: several value columns ({_names(candidates)}); pick one with --column")
        column = candidates[0]
    elif column not in header:
        raise WaveformError(f"{path}: no column {short_repr(column, 40)} (columns: {_names(header)})")
    if header.count(column) > 1:
        raise WaveformError(f"{path}: column {short_repr(column, 40)} is named twice")
    value_index = header.index(column)
    time_index = header.index(time_name) if time_name is not None else None
    if time_index is None and rate_hz is None:
        raise WaveformError(f"{path}: no time column (t or timestamp): give the sample rate with --rate-hz")
    width = len(first[1])
    values, times = array.array("d"), array.array("d")  # 8 bytes a sample, not a Python float's 32
    for line_number, row in rows:
        if len(row) > width and any(cell.strip() for cell in row[width:]):
            raise WaveformError(f"{path}:{line_number}: {len(row)} cells, but the header names {width} columns")
        try:
            values.append(float(row[value_index]))
            if time_index is not None:
                times.append(float(row[time_index]) * TIME_COLUMNS[time_name])
        except (ValueError, IndexError):
            raise WaveformError(f"{path}:{line_number}: not a number in column {short_repr(column, 40)} "
                                "or the time column") from None
    if not values:
        raise WaveformError(f"{path}: no samples")
    v = np.array(values, dtype=float)
    t = np.arange(len(v)) / rate_hz if time_index is None else np.array(times, dtype=float)
    if not np.all(np.isfinite(v)) or not np.all(np.isfinite(t)):
        raise WaveformError(f"{path}: values must be finite numbers")
    if time_index is not None and len(t) > 1 and np.any(np.diff(t) <= 0):
        raise WaveformError(f"{path}: time column {time_name!r} does not increase")
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
