"""Atomic file writes shared by the compat packages that save checkpoints themselves."""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

__all__ = ["write_atomic"]


def write_atomic(path: Path, write: Callable[[BinaryIO], object]) -> None:
    """Write ``path`` through ``write(stream)`` without ever leaving half a file there.

    ``write`` fills a temporary file beside ``path`` (same folder, so the rename cannot cross
    file systems), which is flushed, fsynced and renamed into place; on any error, including
    an interrupt, the temporary file is removed and ``path`` keeps its old content.
    """
    tmp = path.with_name(f".{path.name}.tmp-{secrets.token_hex(4)}")
    try:
        with tmp.open("wb") as stream:
            write(stream)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
