"""Opening the files of a run without following links or blocking on special files.

A run folder may hold files someone else put there (a copied checkpoint, a symlinked
``metrics.jsonl``, a manifest naming ``/dev/zero``). Every file unitrain reads or rewrites in
a run is opened through :func:`open_regular`: ``O_NOFOLLOW`` refuses a symbolic link as the
last component, ``O_NONBLOCK`` keeps a FIFO from blocking the open, and ``fstat`` on the open
descriptor (not the path, which could change in between) refuses anything that is not a
regular file. Truncation goes through the descriptor too (``os.ftruncate``), never the path.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

__all__ = ["NotRegularFile", "open_regular", "read_regular"]


class NotRegularFile(OSError):
    """The path is a symbolic link, a device, a FIFO or a folder, where a file was expected."""


def open_regular(path: str | os.PathLike[str], flags: int = os.O_RDONLY, mode: int = 0o644) -> int:
    """``os.open`` that refuses links and non-regular files; returns a blocking descriptor."""
    path = Path(path)
    try:
        fd = os.open(path, flags | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, mode)
    except OSError as error:
        if error.errno == errno.ELOOP:
            raise NotRegularFile(
                errno.ELOOP, "a symbolic link, which unitrain does not follow", str(path)
            ) from None
        raise
    try:
        kind = os.fstat(fd).st_mode
        if not stat.S_ISREG(kind):
            raise NotRegularFile(errno.EINVAL, f"not a regular file ({_kind(kind)})", str(path))
        os.set_blocking(fd, True)
    except BaseException:
        os.close(fd)
        raise
    return fd


def read_regular(path: str | os.PathLike[str], limit: int = 64 << 20) -> bytes:
    """The bytes of a regular file of at most ``limit`` bytes (refuses links, devices)."""
    fd = open_regular(path)
    try:
        size = os.fstat(fd).st_size
        if size > limit:
            raise NotRegularFile(
                errno.EFBIG, f"{size} bytes, more than the {limit} expected", str(path)
            )
        with os.fdopen(fd, "rb", closefd=False) as stream:
            return stream.read(limit + 1)[:limit]
    finally:
        os.close(fd)


def _kind(mode: int) -> str:
    for test, name in (
        (stat.S_ISDIR, "a folder"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISFIFO, "a FIFO"),
        (stat.S_ISSOCK, "a socket"),
        (stat.S_ISLNK, "a symbolic link"),
    ):
        if test(mode):
            return name
    return "not a plain file"
