"""The listing of a checkpoint folder, its repair and its pruning (what
:mod:`unitrain.runs.checkpoint` writes).

**What counts as a checkpoint.** A sub-folder (not a link) whose name is ``step-<9+ digits>``
or ``step-<digits>-micro-<digits>`` (what the Checkpoint plugin writes); pruning additionally
requires a readable unitrain manifest (:func:`is_owned`), so a folder unitrain did not write
is never deleted. Checkpoints are ordered by **training position** (the global step, then the
micro step, both in the name), never by a clock; :func:`newest_valid` tries the one ``latest``
names first, then walks back from the newest position until one verifies
(:func:`~unitrain.runs.checkpoint_read.verify_checkpoint`).
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import secrets
import shutil
import warnings
from pathlib import Path

from unitrain.errors import CheckpointError, UnitrainWarning
from unitrain.runs.checkpoint_read import read_manifest, verify_checkpoint
from unitrain.runs.lock import holder
from unitrain.runs.safe_io import read_regular

__all__ = [
    "CHECKPOINT_NAME",
    "LATEST",
    "LEFTOVER",
    "checkpoint_position",
    "is_owned",
    "list_checkpoints",
    "newest_valid",
    "read_latest",
    "remove_checkpoint",
    "remove_stale",
    "repair_interrupted",
]

LATEST = "latest"
_log = logging.getLogger("unitrain.runs")
#: The names the Checkpoint plugin gives: ``step-000000120`` or ``step-000000120-micro-000000245``.
CHECKPOINT_NAME = re.compile(r"step-(\d{9,})(?:-micro-(\d{9,}))?")
#: Hidden leftovers of an interrupted write: ``.<name>.tmp-<hex>``, ``.old-``, ``.trash-``.
LEFTOVER = re.compile(
    r"\.(?P<name>[A-Za-z0-9_+=@][A-Za-z0-9_.+=@-]*)\.(?P<kind>tmp|old|trash)-[0-9a-f]{8}"
)


def read_latest(directory: str | os.PathLike[str]) -> str | None:
    """The checkpoint name the ``latest`` pointer holds, or None (absent, a link, garbage)."""
    try:
        text = read_regular(Path(directory) / LATEST, limit=4096).decode("utf-8").strip()
    except (OSError, UnicodeDecodeError):
        return None
    return text if CHECKPOINT_NAME.fullmatch(text) else None


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
        if (match := LEFTOVER.fullmatch(entry.name)) is not None
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
        if (match := LEFTOVER.fullmatch(entry.name)) is not None
        and (match["kind"] != "old" or os.path.lexists(directory / match["name"]))
    ]
    for path in stale:
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            with contextlib.suppress(OSError):
                path.unlink()
    return stale
