"""Progress for long work, on the terminal only (a journal gets no carriage-return spam)."""

from __future__ import annotations

import sys
import time
from typing import TextIO


class Progress:
    def __init__(self, label: str, total: int, stream: TextIO | None = None, min_interval_s: float = 0.2,
                 enabled: bool = True):
        self.label = label
        self.total = max(int(total), 1)
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = enabled and self.stream.isatty()
        self.min_interval_s = min_interval_s
        self._last_s = 0.0
        self._start_s = time.monotonic()

    def update(self, done: int) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if now - self._last_s < self.min_interval_s and done < self.total:
            return
        self._last_s = now
        pct = 100.0 * done / self.total
        elapsed = now - self._start_s
        self.stream.write(f"\r{self.label}: {done}/{self.total} ({pct:3.0f}%) {elapsed:5.1f} s")
        self.stream.flush()

    def close(self) -> None:
        if self.enabled:
            self.update(self.total)
            self.stream.write("\n")
            self.stream.flush()
