"""t3w's small helpers: run hashes and a working-directory context."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime

__all__ = ["generate_run_hash", "rm_r", "work_directory"]


def generate_run_hash(hash_length: int = 24) -> str:
    """``yymmddHHMMSS`` followed by random hex digits, cut to ``hash_length`` characters."""
    return (datetime.now().strftime("%y%m%d%H%M%S") + uuid.uuid4().hex)[:hash_length]


@contextmanager
def work_directory(path: str | os.PathLike[str]) -> Iterator[None]:
    """Run the block with ``path`` as the working directory, then go back."""
    previous = os.getcwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(previous)


def rm_r(path: str | os.PathLike[str]) -> None:
    """Remove a file, or a folder with everything in it (a link is removed, not followed).

    The caller names what to delete; unitrain itself never calls this.
    """
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path)
    elif os.path.lexists(path):
        os.remove(path)
