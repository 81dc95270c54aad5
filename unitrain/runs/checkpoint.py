"""The checkpoint write protocol, the listing of a checkpoint folder, and its repair.

A checkpoint is a directory ``<checkpoints>/<name>/`` holding one or more ``torch.save``
files and ``MANIFEST.json`` (format version, versions, the training position, metrics, and a
sha256 and size per file). Writing it (:func:`write_checkpoint`):

1. a temporary directory ``.<name>.tmp-<hex>`` is made **beside** the target (same file
   system, so the rename below is atomic; never in $TMPDIR);
2. each file is written, flushed and fsynced, its sha256 computed while writing;
3. the manifest is written and fsynced, then the temporary directory itself;
4. the directory is renamed to ``<name>`` (the commit) and the parent is fsynced; a re-save
   of a committed name first renames the old one to ``.<name>.old-<hex>`` (a kill between
   the two renames is repaired by :func:`repair_interrupted` before anyone lists the folder);
5. the ``latest`` pointer (a file holding the name) is replaced with ``os.replace``.

Any error removes the temporary directory and is raised as :class:`CheckpointError` naming
the path; nothing committed before is touched.

**What counts as a checkpoint.** A sub-folder (not a link) whose name is ``step-<9+ digits>``
or ``step-<digits>-micro-<digits>`` (what the Checkpoint plugin writes); pruning additionally
requires a readable unitrain manifest (:func:`is_owned`), so a folder unitrain did not write
is never deleted. Checkpoints are ordered by **training position** (the global step, then the
micro step, both in the name), never by a clock; :func:`newest_valid` tries the one ``latest``
names first, then walks back from the newest position until one verifies
(:func:`~unitrain.runs.checkpoint_read.verify_checkpoint`). Files are read with
``torch.load(weights_only=True)`` only.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import re
import secrets
import shutil
import time
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from unitrain.errors import CheckpointError, UnitrainWarning
from unitrain.runs.checkpoint_read import (
    FORMAT,
    FORMAT_VERSION,
    MANIFEST,
    load_checkpoint,
    load_weights_only,
    read_manifest,
    verify_checkpoint,
)
from unitrain.runs.lock import holder
from unitrain.runs.names import check_name
from unitrain.runs.safe_io import read_regular

__all__ = [
    "LATEST",
    "MANIFEST",
    "checkpoint_position",
    "is_owned",
    "list_checkpoints",
    "load_checkpoint",
    "load_weights_only",
    "newest_valid",
    "read_latest",
    "remove_checkpoint",
    "remove_stale",
    "repair_interrupted",
    "verify_checkpoint",
    "write_checkpoint",
]

LATEST = "latest"
_TMP = ".tmp-"
_log = logging.getLogger("unitrain.runs")
#: The names the Checkpoint plugin gives: ``step-000000120`` or ``step-000000120-micro-000000245``.
CHECKPOINT_NAME = re.compile(r"step-(\d{9,})(?:-micro-(\d{9,}))?")
#: Hidden leftovers of an interrupted write: ``.<name>.tmp-<hex>``, ``.old-``, ``.trash-``.
_LEFTOVER = re.compile(
    r"\.(?P<name>[A-Za-z0-9_+=@][A-Za-z0-9_.+=@-]*)\.(?P<kind>tmp|old|trash)-[0-9a-f]{8}"
)


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
    target = parent / name
    tmp = parent / f".{name}{_TMP}{secrets.token_hex(4)}"
    try:
        parent.mkdir(parents=True, exist_ok=True)
        os.mkdir(tmp)
        entries: dict[str, dict[str, Any]] = {}
        for file_name, payload in files.items():
            entries[file_name] = _write_file(tmp / file_name, payload)
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
                stacklevel=2,
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
            raise CheckpointError(
                f"could not write checkpoint {target}: {error}. The previous checkpoints are "
                "untouched; free space or fix permissions, then resume from the latest one"
            ) from error
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


def read_latest(directory: str | os.PathLike[str]) -> str | None:
    """The checkpoint name the ``latest`` pointer holds, or None (absent, a link, garbage)."""
    try:
        text = read_regular(Path(directory) / LATEST, limit=4096).decode("utf-8").strip()
    except (OSError, UnicodeDecodeError):
        return None
    return text if CHECKPOINT_NAME.fullmatch(text) else None


# ---------------------------------------------------------------------- the folder


def checkpoint_position(name: str) -> tuple[int, int] | None:
    """``(global_step, micro_step)`` ordering key of a checkpoint name (None: not one).

    A checkpoint at a window's end sorts before the mid-window ones of the same step.
    """
    match = CHECKPOINT_NAME.fullmatch(name)
    if match is None:
        return None
    return int(match.group(1)), -1 if match.group(2) is None else int(match.group(2))


def list_checkpoints(directory: str | os.PathLike[str]) -> list[Path]:
    """The checkpoint folders under ``directory``, oldest training position first.

    Only real sub-folders (not links) named as the Checkpoint plugin names them count;
    temporaries and anything else are ignored. An interrupted re-save is repaired first.
    """
    directory = Path(directory)
    if not directory.is_dir():
        return []
    repair_interrupted(directory)
    found: list[tuple[tuple[int, int], Path]] = []
    with os.scandir(directory) as entries:
        for entry in entries:
            key = checkpoint_position(entry.name)
            if key is not None and entry.is_dir(follow_symlinks=False):
                found.append((key, Path(entry.path)))
    return [path for _, path in sorted(found)]


def is_owned(path: Path) -> bool:
    """True if ``path`` is a checkpoint folder with a unitrain manifest: one unitrain wrote,
    which pruning may delete. (Its files are not hashed: a corrupt one is still ours.)"""
    if checkpoint_position(path.name) is None:
        return False
    try:
        read_manifest(path)
    except CheckpointError:
        return False
    return True


def newest_valid(directory: str | os.PathLike[str]) -> tuple[Path | None, list[str]]:
    """The checkpoint to resume from under ``directory``, and why others were skipped.

    The one ``latest`` names comes first; then, newest training position first, those not
    beyond it (an attempt that was abandoned by resuming from an older checkpoint went
    further than the current one), then the rest. Each skipped one produces a
    :class:`UnitrainWarning` naming it and the reason.
    """
    listed = list_checkpoints(directory)
    pointed = read_latest(directory)
    limit = checkpoint_position(pointed) if pointed is not None else None
    ordered = sorted(
        listed,
        key=lambda p: (
            p.name == pointed,
            limit is None or _key(p) <= limit,
            _key(p),
        ),
        reverse=True,
    )
    skipped: list[str] = []
    for path in ordered:
        try:
            verify_checkpoint(path)
        except CheckpointError as error:
            message = f"skipping checkpoint {path}: {error}"
            skipped.append(message)
            warnings.warn(message, UnitrainWarning, stacklevel=2)
            continue
        return path, skipped
    return None, skipped


def _key(path: Path) -> tuple[int, int]:
    return checkpoint_position(path.name) or (-1, -1)


def remove_checkpoint(path: Path) -> None:
    """Delete a committed checkpoint: renamed aside first, so it never looks half-present.

    Refuses anything that is not a checkpoint folder with a unitrain manifest.
    """
    if not is_owned(path):
        raise CheckpointError(
            f"refusing to delete {path}: it is not a checkpoint folder with a unitrain "
            "manifest (unitrain deletes only what it wrote)"
        )
    trash = path.with_name(f".{path.name}.trash-{secrets.token_hex(4)}")
    os.rename(path, trash)
    shutil.rmtree(trash)


def _owner_alive(directory: Path) -> bool:
    """A live process holds the lock of ``directory`` or of the run folder holding it."""
    if holder(directory) is not None:
        return True
    parent = directory.parent
    return (parent / "run.json").exists() and holder(parent) is not None


def repair_interrupted(directory: str | os.PathLike[str]) -> list[Path]:
    """Put back the old copy of a re-save that died between its two renames; returns them.

    Such a kill leaves ``.<name>.old-<hex>`` and no ``<name>`` (which ``latest`` may name).
    Nothing is done while the folder's owner is alive: it may be between the renames now.
    """
    directory = Path(directory)
    pending = [
        (Path(entry.path), directory / match["name"])
        for entry in _scan(directory)
        if (match := _LEFTOVER.fullmatch(entry.name)) is not None
        and match["kind"] == "old"
        and checkpoint_position(match["name"]) is not None
        and entry.is_dir(follow_symlinks=False)
    ]
    pending = [(old, target) for old, target in pending if not os.path.lexists(target)]
    if not pending or _owner_alive(directory):
        return []
    repaired = []
    for old, target in pending:
        with contextlib.suppress(FileNotFoundError, FileExistsError, OSError):
            os.rename(old, target)
            repaired.append(target)
            _log.warning(
                "%s: a re-save of this checkpoint was interrupted between its two renames; "
                "the previous copy was put back",
                target,
            )
    return repaired


def _scan(directory: Path) -> list[os.DirEntry[str]]:
    try:
        with os.scandir(directory) as entries:
            return list(entries)
    except OSError:
        return []


def remove_stale(directory: str | os.PathLike[str]) -> list[Path]:
    """Delete the leftovers of writes that died (only names unitrain gives them); returns them.

    Call it only as the folder's owner (holding its lock).
    """
    directory = Path(directory)
    if not directory.is_dir():
        return []
    repair_interrupted(directory)
    stale = [
        Path(entry.path)
        for entry in _scan(directory)
        if (match := _LEFTOVER.fullmatch(entry.name)) is not None
        and (match["kind"] != "old" or os.path.lexists(directory / match["name"]))
    ]
    for path in stale:
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            with contextlib.suppress(OSError):
                path.unlink()
    return stale
