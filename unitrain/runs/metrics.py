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
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import IO, Any

from unitrain.errors import RunError, UnitrainWarning
from unitrain.runs.safe_io import open_regular

__all__ = ["MetricsWriter"]


class MetricsWriter:
    """Appends records to one JSON Lines file."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._file: IO[str] | None = None

    def open(self, truncate_to: int | None = None) -> None:
        """Open for appending; first cut the file to ``truncate_to`` bytes if it is longer.

        The file is opened without following a link and must be a regular file (a link's
        target outside the run is never truncated); the cut goes through the descriptor.
        """
        try:
            fd = open_regular(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT)
        except OSError as error:
            raise RunError(
                f"{self.path} cannot be opened for appending: {error}. Remove it (or the link) "
                "and resume; unitrain writes metrics only into a regular file of its own"
            ) from None
        size = os.fstat(fd).st_size
        if truncate_to is not None and size > truncate_to:
            os.ftruncate(fd, truncate_to)
        elif truncate_to is not None and size < truncate_to:
            warnings.warn(
                f"{self.path} holds {size} bytes, fewer than the {truncate_to} the checkpoint "
                "recorded: records of earlier steps were lost outside unitrain",
                UnitrainWarning,
                stacklevel=2,
            )
        self._file = os.fdopen(fd, "a", encoding="utf-8", buffering=1)

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
