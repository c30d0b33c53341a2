"""Structured log lines on stderr: `level=info bed=bed-1 event=alert.onset key=value ... msg="..."`.

Under systemd the journal stamps the time itself (JOURNAL_STREAM is set), so no timestamp is
written there; on a terminal each line starts with one.
"""

from __future__ import annotations

import logging
import os
import sys
import time

_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime"}


def _value(value: object) -> str:
    text = str(value)
    if text == "" or any(c in text for c in ' ="\n'):
        return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", " ") + '"'
    return text


class KeyValueFormatter(logging.Formatter):
    def __init__(self, timestamps: bool):
        super().__init__()
        self.timestamps = timestamps

    def format(self, record: logging.LogRecord) -> str:
        parts = []
        if self.timestamps:
            parts.append("ts=" + time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
                         + f".{int(record.msecs):03d}Z")
        parts.append(f"level={record.levelname.lower()}")
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_") and value is not None:
                parts.append(f"{key}={_value(value)}")
        parts.append(f"msg={_value(record.getMessage())}")
        return " ".join(parts)


def setup_logging(level: str = "info", stream=None) -> None:
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(KeyValueFormatter(timestamps="JOURNAL_STREAM" not in os.environ))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    set_level(level)


def set_level(level: str) -> None:
    logging.getLogger().setLevel(getattr(logging, level.upper()))
