"""Errors for bad input: each names the file (and line) and what is wrong."""
from __future__ import annotations

from pathlib import Path


class DataError(ValueError):
    """A missing, unreadable or malformed data file."""

    def __init__(self, path, message: str, line: int | None = None):
        self.path = Path(path) if path is not None else None
        self.line = line
        where = f"{self.path}" if line is None else f"{self.path}, line {line}"
        super().__init__(f"{where}: {message}")
