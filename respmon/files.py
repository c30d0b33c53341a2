"""Reading a small input file safely: a regular file of bounded size, opened without blocking, so
that a fifo or a device put in its place is refused rather than waited on or read for ever."""

from __future__ import annotations

import os
import stat
from pathlib import Path


class NotRegularFile(ValueError):
    pass


class FileTooLarge(ValueError):
    def __init__(self, size: int | None, limit: int):
        super().__init__(f"{size} bytes; at most {limit}" if size is not None else f"over {limit} bytes")
        self.size, self.limit = size, limit


def read_regular_file(path: Path, limit: int) -> tuple[bytes, int]:
    """(the file's bytes, its mode); NotRegularFile, FileTooLarge, or OSError from the open."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise NotRegularFile(str(path))
        if info.st_size > limit:
            raise FileTooLarge(info.st_size, limit)
        with os.fdopen(fd, "rb", closefd=False) as handle:
            data = handle.read(limit + 1)
    finally:
        os.close(fd)
    if len(data) > limit:  # a file that grew as it was read
        raise FileTooLarge(None, limit)
    return data, info.st_mode
