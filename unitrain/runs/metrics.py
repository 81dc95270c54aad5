"""The ``metrics.jsonl`` writer: append-only, flushed per record, truncated on resume.

Each line is one JSON object: ``{"time", "split", "epoch", "step", <name>: <value>, ...}``
(``step`` is the global optimizer step). A checkpoint stores :meth:`MetricsWriter.offset`,
the file's size when it was written; resuming truncates the file back to that size, so the
records of the steps a crashed attempt did after its last checkpoint are written exactly once,
by the resumed run.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Mapping
from pathlib import Path
from typing import IO, Any

__all__ = ["MetricsWriter"]


class MetricsWriter:
    """Appends records to one JSON Lines file."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._file: IO[str] | None = None

    def open(self, truncate_to: int | None = None) -> None:
        """Open for appending; first cut the file to ``truncate_to`` bytes if it is longer."""
        if truncate_to is not None and self.path.exists():
            if self.path.stat().st_size > truncate_to:
                os.truncate(self.path, truncate_to)
        self._file = self.path.open("a", encoding="utf-8", buffering=1)

    def write(self, split: str, epoch: int, step: int, values: Mapping[str, Any]) -> None:
        """Append one record (``values`` must be JSON numbers or strings)."""
        if self._file is None:
            return
        record = {"time": round(time.time(), 3), "split": split, "epoch": epoch, "step": step}
        record.update(values)
        self._file.write(json.dumps(record, separators=(",", ":")) + "\n")

    def offset(self) -> int:
        """Bytes committed so far (flushes first)."""
        if self._file is not None:
            self._file.flush()
            return self._file.tell()
        return self.path.stat().st_size if self.path.exists() else 0

    def close(self) -> None:
        """Flush and close (safe to call twice)."""
        if self._file is not None:
            self._file.close()
            self._file = None
