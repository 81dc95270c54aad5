"""The checkpoint write protocol.

A checkpoint is a directory ``<checkpoints>/<name>/`` holding one or more ``torch.save``
files and ``MANIFEST.json`` (format version, versions, the training position, metrics, and a
sha256 and size per file). Writing it (:func:`write_checkpoint`):

1. a temporary directory ``.<name>.tmp-<hex>`` is made **beside** the target (same file
   system, so the rename below is atomic; never in $TMPDIR);
2. each file is written, flushed and fsynced, its sha256 computed while writing;
3. the manifest is written and fsynced, then the temporary directory itself;
4. the directory is renamed to ``<name>`` (the commit) and the parent is fsynced; a re-save
   of a committed name first renames the old one to ``.<name>.old-<hex>`` (a kill between
   the two renames is repaired by :func:`~unitrain.runs.checkpoint_folder.repair_interrupted`
   before anyone lists the folder);
5. the ``latest`` pointer (a file holding the name) is replaced with ``os.replace``.

Any error removes the temporary directory and is raised as :class:`CheckpointError` naming
the path; nothing committed before is touched. Listing, repairing and pruning a checkpoint
folder live in :mod:`unitrain.runs.checkpoint_folder` (re-exported here), reading in
:mod:`unitrain.runs.checkpoint_read`; files are read with ``torch.load(weights_only=True)``
only.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import secrets
import shutil
import time
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from unitrain.errors import CheckpointError, UnitrainWarning
from unitrain.runs.checkpoint_folder import (
    LATEST,
    checkpoint_position,
    is_owned,
    list_checkpoints,
    newest_valid,
    read_latest,
    remove_checkpoint,
    remove_stale,
    repair_interrupted,
)
from unitrain.runs.checkpoint_read import (
    FORMAT,
    FORMAT_VERSION,
    MANIFEST,
    load_checkpoint,
    load_weights_only,
    verify_checkpoint,
)
from unitrain.runs.names import check_name

__all__ = [
    "LATEST",
    "MANIFEST",
    "checkpoint_position",
    "commit_directory",
    "is_owned",
    "list_checkpoints",
    "load_checkpoint",
    "load_weights_only",
    "newest_valid",
    "read_latest",
    "remove_checkpoint",
    "remove_stale",
    "repair_interrupted",
    "sha256_of",
    "temporary_directory",
    "verify_checkpoint",
    "write_checkpoint",
]

_TMP = ".tmp-"


class _HashingWriter:
    """A write-only file object that hashes what passes through it."""

    def __init__(self, stream: Any) -> None:
        self.stream = stream
        self.digest = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes) -> int:
        self.digest.update(data)
        self.size += len(data)
        written: int = self.stream.write(data)
        return written

    def flush(self) -> None:
        self.stream.flush()


def write_checkpoint(
    directory: str | os.PathLike[str],
    name: str,
    files: Mapping[str, Any],
    *,
    meta: Mapping[str, Any] | None = None,
    update_latest: bool = True,
) -> Path:
    """Write ``files`` (file name → object for ``torch.save``) as the checkpoint ``name``.

    ``meta`` (plain JSON data: position, metrics) goes into the manifest. If ``name`` is
    already committed, the new checkpoint replaces it only after it is itself complete.
    Returns the committed directory.
    """
    check_name(name, "checkpoint name")
    for file_name in files:
        if check_name(file_name, "checkpoint file name") == MANIFEST:
            raise CheckpointError(f"checkpoint file name {MANIFEST!r} is the manifest's own")
    parent = Path(directory)
    tmp = parent / f".{name}{_TMP}{secrets.token_hex(4)}"
    try:
        parent.mkdir(parents=True, exist_ok=True)
        os.mkdir(tmp)
        entries = {
            file_name: _write_file(tmp / file_name, payload) for file_name, payload in files.items()
        }
    except BaseException as error:
        shutil.rmtree(tmp, ignore_errors=True)
        if isinstance(error, OSError):
            raise _write_error(parent / name, error) from error
        raise
    return _commit(parent, name, tmp, entries, meta, update_latest)


def _write_error(target: Path, error: OSError) -> CheckpointError:
    return CheckpointError(
        f"could not write checkpoint {target}: {error}. The previous checkpoints are "
        "untouched; free space or fix permissions, then resume from the latest one"
    )


def _commit(
    parent: Path,
    name: str,
    tmp: Path,
    entries: dict[str, dict[str, Any]],
    meta: Mapping[str, Any] | None,
    update_latest: bool,
) -> Path:
    """Steps 3 to 5: manifest, the commit rename (the old copy aside first), ``latest``.

    A folder of that name unitrain did not write is moved aside with a warning, never
    replaced. On an error ``tmp`` is removed; nothing committed before is touched.
    """
    target = parent / name
    try:
        manifest = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "name": name,
            "created": time.time(),
            "torch": torch.__version__,
            "files": entries,
            **dict(meta or {}),
        }
        _write_bytes(tmp / MANIFEST, json.dumps(manifest, indent=2, default=str).encode())
        _fsync_dir(tmp)
        old = None
        if os.path.lexists(target) and not is_owned(target):
            # not a checkpoint unitrain wrote (no manifest, a link, a file): keep it, aside
            kept = parent / f"{name}.not-a-checkpoint-{secrets.token_hex(4)}"
            os.rename(target, kept)
            warnings.warn(
                f"{target} was not a unitrain checkpoint; it was moved to {kept.name}, "
                "untouched, to make room for the checkpoint of that name",
                UnitrainWarning,
                stacklevel=3,  # the caller of write_checkpoint
            )
        elif os.path.lexists(target):  # a re-save of the same name: move the old one aside
            old = parent / f".{name}.old-{secrets.token_hex(4)}"
            os.rename(target, old)
        os.rename(tmp, target)
        _fsync_dir(parent)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
        if update_latest:
            _write_latest(parent, name)
    except BaseException as error:
        shutil.rmtree(tmp, ignore_errors=True)
        if isinstance(error, OSError):
            raise _write_error(target, error) from error
        raise
    return target


def _create(path: Path) -> Any:
    # a fresh name in a folder this process just made: O_EXCL, and no link is followed
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
    return os.fdopen(fd, "wb")


def _write_file(path: Path, payload: Any) -> dict[str, Any]:
    with _create(path) as stream:
        writer = _HashingWriter(stream)
        torch.save(payload, writer)  # type: ignore[arg-type]  # any object with write()
        stream.flush()
        os.fsync(stream.fileno())
    return {"sha256": writer.digest.hexdigest(), "bytes": writer.size}


def _write_bytes(path: Path, data: bytes) -> None:
    with _create(path) as stream:
        stream.write(data)
        stream.flush()
        os.fsync(stream.fileno())


def _fsync_dir(path: Path) -> None:
    # Makes a rename inside ``path`` durable (ext4/XFS); directories cannot be opened on Windows.
    if os.name != "posix":  # pragma: no cover
        return
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_latest(parent: Path, name: str) -> None:
    tmp = parent / f".{LATEST}{_TMP}{secrets.token_hex(4)}"
    try:
        _write_bytes(tmp, (name + "\n").encode())
        os.replace(tmp, parent / LATEST)
        _fsync_dir(parent)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


def commit_directory(
    directory: str | os.PathLike[str],
    name: str,
    written: str | os.PathLike[str],
    *,
    meta: Mapping[str, Any] | None = None,
    update_latest: bool = True,
) -> Path:
    """Commit files another writer already put in ``written``, a temporary directory beside
    ``directory / name`` (e.g. ``torch.distributed.checkpoint``, which every rank writes
    into): steps 3 to 5 of the protocol, each file hashed into the manifest. On an error
    ``written`` is removed and nothing committed before is touched."""
    parent, tmp = Path(directory), Path(written)
    try:
        entries: dict[str, dict[str, Any]] = {}
        for path in sorted(p for p in tmp.rglob("*") if p.is_file()):
            size, digest = sha256_of(path)
            entries[path.relative_to(tmp).as_posix()] = {"sha256": digest, "bytes": size}
    except BaseException as error:
        shutil.rmtree(tmp, ignore_errors=True)
        if isinstance(error, OSError):
            raise _write_error(parent / name, error) from error
        raise
    return _commit(parent, name, tmp, entries, meta, update_latest)


def temporary_directory(directory: str | os.PathLike[str], name: str) -> Path:
    """A fresh temporary directory beside ``directory / name`` for :func:`commit_directory`
    (the name :func:`remove_stale` recognises as an unfinished write)."""
    parent = Path(directory)
    parent.mkdir(parents=True, exist_ok=True)
    tmp = parent / f".{name}{_TMP}{secrets.token_hex(4)}"
    os.mkdir(tmp)
    return tmp


def sha256_of(path: Path) -> tuple[int, str]:
    """The size and sha256 of a file (for files not written through :func:`write_checkpoint`)."""
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as stream:
        while chunk := stream.read(1 << 20):
            digest.update(chunk)
            size += len(chunk)
    return size, digest.hexdigest()
