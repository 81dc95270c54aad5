"""Who owns a run folder: an advisory lock plus a heartbeat, in the folder's ``.lock`` file.

The process that trains in a run folder (or in a checkpoint folder of its own) holds an
exclusive ``fcntl.flock`` on ``<folder>/.lock`` from its fit's start to its end. The kernel
drops the lock when the process dies, however it dies (SIGKILL, OOM killer), so a lock that
can be taken is a lock nobody holds: the next process takes it over and says whose it was.
A second live process is refused with :class:`~unitrain.errors.RunLockedError` naming the
holder's pid and host, before it has written anything.

The file holds the holder's ``{"pid", "host", "started"}`` (emptied on a clean release); its
modification time is the heartbeat (:meth:`RunLock.beat`, an ``os.utime`` that needs no free
disk space). Where the lock cannot be seen (another host sharing the folder over a network
file system), a holder named in the file with a fresh heartbeat still counts as alive.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import logging
import os
import socket
import time
from pathlib import Path
from typing import Any

from unitrain.errors import RunError, RunLockedError
from unitrain.runs.safe_io import NotRegularFile, open_regular

__all__ = ["LOCK_FILE", "STALE_AFTER_S", "RunLock", "holder"]

LOCK_FILE = ".lock"
#: A heartbeat older than this (seconds) means the holder is gone, where the lock itself
#: cannot tell (another host).
STALE_AFTER_S = 600.0
#: A lister probing the lock holds it (shared) for a moment: the owner retries this long.
_RETRY_S = 1.0

_log = logging.getLogger("unitrain.runs")


def _open(path: Path, flags: int) -> int:
    try:
        return open_regular(path, flags)
    except NotRegularFile as error:
        raise RunError(
            f"{path} cannot be used as the folder's lock ({error.strerror}); remove it, "
            "unitrain keeps its lock there"
        ) from None


def _read(fd: int) -> dict[str, Any]:
    raw = os.pread(fd, 4096, 0)
    try:
        data = json.loads(raw.decode("utf-8")) if raw.strip() else {}
    except (UnicodeDecodeError, ValueError):
        return {"unreadable": True}
    return data if isinstance(data, dict) else {"unreadable": True}


def _describe(info: dict[str, Any], heartbeat: float | None) -> str:
    pid, host = info.get("pid", "?"), info.get("host", "?")
    text = f"pid {pid} on host {host}"
    if isinstance(info.get("started"), int | float):
        text += f", since {time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(info['started']))}"
    if heartbeat is not None:
        text += f", last heartbeat {max(0.0, time.time() - heartbeat):.0f} s ago"
    return text


class RunLock:
    """The exclusive lock of one folder; :meth:`acquire` at fit start, :meth:`release` at end."""

    def __init__(self, folder: str | os.PathLike[str], what: str = "run folder") -> None:
        self.folder = Path(folder)
        self.what = what
        self.path = self.folder / LOCK_FILE
        self.taken_over: dict[str, Any] | None = None  # the dead holder's record, if any
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        """True between :meth:`acquire` and :meth:`release`."""
        return self._fd is not None

    def acquire(self) -> None:
        """Take the lock or raise :class:`RunLockedError` naming the live holder."""
        if self._fd is not None:
            return
        fd = _open(self.path, os.O_RDWR | os.O_CREAT)
        try:
            deadline = time.monotonic() + _RETRY_S
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except OSError as error:
                    if error.errno not in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                        raise
                    if time.monotonic() > deadline:
                        info = _read(fd)
                        raise RunLockedError(self._refusal(info, os.fstat(fd).st_mtime)) from None
                    time.sleep(0.02)
            previous = _read(fd)
            beat = os.fstat(fd).st_mtime
            if previous and not previous.get("unreadable"):
                if previous.get("host") != socket.gethostname() and (
                    time.time() - beat < STALE_AFTER_S
                ):
                    raise RunLockedError(self._refusal(previous, beat, remote=True))
                self.taken_over = previous
                _log.warning(
                    "%s %s: taking over the lock of %s, which is gone (it did not release it)",
                    self.what,
                    self.folder,
                    _describe(previous, beat),
                )
            record = {"pid": os.getpid(), "host": socket.gethostname(), "started": time.time()}
            try:
                os.ftruncate(fd, 0)
                os.pwrite(fd, json.dumps(record).encode(), 0)
            except OSError as error:  # a full disk: the flock still excludes others
                _log.warning("could not record the lock holder in %s: %s", self.path, error)
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd

    def _refusal(self, info: dict[str, Any], beat: float, remote: bool = False) -> str:
        how = (
            "its heartbeat is recent, on another host"
            if remote
            else "it holds the folder's lock and is alive"
        )
        return (
            f"{self.what} {self.folder} is in use by {_describe(info, beat)} ({how}): two "
            "processes on one run would interleave its metrics and checkpoints. Wait for it "
            "to end or stop it, then resume; or start a new run"
        )

    def beat(self) -> None:
        """Stamp the heartbeat (the lock file's modification time)."""
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.utime(self._fd)

    def release(self) -> None:
        """Empty the holder record and drop the lock (safe to call twice)."""
        fd, self._fd = self._fd, None
        if fd is None:
            return
        try:
            with contextlib.suppress(OSError):
                os.ftruncate(fd, 0)
            fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)


def holder(folder: str | os.PathLike[str]) -> dict[str, Any] | None:
    """The live holder of ``folder``'s lock (pid, host, heartbeat), None if nobody holds it.

    Probes with a shared non-blocking lock, released at once. A holder on another host is
    judged by its heartbeat (see :data:`STALE_AFTER_S`).
    """
    path = Path(folder) / LOCK_FILE
    try:
        fd = _open(path, os.O_RDONLY)
    except (OSError, RunError):
        return None
    try:
        info = _read(fd)
        beat = os.fstat(fd).st_mtime
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except OSError:
            return {**info, "heartbeat": beat}  # held: alive
        fcntl.flock(fd, fcntl.LOCK_UN)
        remote = info.get("host") not in (None, socket.gethostname())
        if info and remote and time.time() - beat < STALE_AFTER_S:
            return {**info, "heartbeat": beat}
        return None
    finally:
        os.close(fd)
