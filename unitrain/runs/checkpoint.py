"""The checkpoint write protocol, the verifier and the weights-only reader.

A checkpoint is a directory ``<checkpoints>/<name>/`` holding one or more ``torch.save``
files and ``MANIFEST.json`` (format version, versions, the training position, metrics, and a
sha256 and size per file). Writing it (:func:`write_checkpoint`):

1. a temporary directory ``.<name>.tmp-<hex>`` is made **beside** the target (same file
   system, so the rename below is atomic; never in $TMPDIR);
2. each file is written, flushed and fsynced, its sha256 computed while writing;
3. the manifest is written and fsynced, then the temporary directory itself;
4. the directory is renamed to ``<name>`` (the commit) and the parent is fsynced;
5. the ``latest`` pointer (a file holding the name) is replaced with ``os.replace``.

Any error removes the temporary directory and is raised as :class:`CheckpointError` naming
the path; nothing committed before is touched. Only a directory whose manifest exists and
whose files all match it counts (:func:`verify_checkpoint`); :func:`newest_valid` walks back
from the newest until one verifies. Files are read with ``torch.load(weights_only=True)``
only: nothing else is ever unpickled.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import pickle
import secrets
import shutil
import time
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from unitrain.errors import CheckpointError, UnitrainWarning

__all__ = [
    "LATEST",
    "MANIFEST",
    "list_checkpoints",
    "load_checkpoint",
    "newest_valid",
    "read_latest",
    "remove_checkpoint",
    "remove_stale",
    "verify_checkpoint",
    "write_checkpoint",
]

MANIFEST = "MANIFEST.json"
LATEST = "latest"
FORMAT = "unitrain-checkpoint"
FORMAT_VERSION = 1
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
        if target.exists():  # a re-save of the same name: move the old one aside first
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


def _write_file(path: Path, payload: Any) -> dict[str, Any]:
    with path.open("wb") as stream:
        writer = _HashingWriter(stream)
        torch.save(payload, writer)  # type: ignore[arg-type]  # any object with write()
        stream.flush()
        os.fsync(stream.fileno())
    return {"sha256": writer.digest.hexdigest(), "bytes": writer.size}


def _write_bytes(path: Path, data: bytes) -> None:
    with path.open("wb") as stream:
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
    """The name the ``latest`` pointer holds, or None."""
    try:
        return (Path(directory) / LATEST).read_text(encoding="utf-8").strip() or None
    except FileNotFoundError:
        return None


# ---------------------------------------------------------------------- reading


def verify_checkpoint(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Check the manifest and every file's size and sha256; returns the manifest.

    Raises :class:`CheckpointError` naming the first file that is missing or differs.
    """
    path = Path(path)
    manifest_path = path / MANIFEST
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CheckpointError(
            f"{path} is not a committed checkpoint: {MANIFEST} is missing (the write did not "
            "finish)"
        ) from None
    except (OSError, ValueError) as error:
        raise CheckpointError(f"{manifest_path} cannot be read: {error}") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise CheckpointError(f"{manifest_path} is not a unitrain checkpoint manifest")
    if manifest.get("format_version", 0) > FORMAT_VERSION:
        raise CheckpointError(
            f"{path} has checkpoint format {manifest['format_version']}, this unitrain reads "
            f"up to {FORMAT_VERSION}; upgrade unitrain"
        )
    for file_name, entry in manifest["files"].items():
        file_path = path / file_name
        try:
            size, digest = _hash_file(file_path)
        except OSError as error:
            raise CheckpointError(f"checkpoint file {file_path} cannot be read: {error}") from None
        if size != entry["bytes"] or digest != entry["sha256"]:
            raise CheckpointError(
                f"checkpoint file {file_path} is corrupt: expected {entry['bytes']} bytes with "
                f"sha256 {entry['sha256'][:12]}…, found {size} bytes with sha256 {digest[:12]}…"
            )
    return manifest


def _hash_file(path: Path) -> tuple[int, str]:
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as stream:
        while chunk := stream.read(1 << 20):
            digest.update(chunk)
            size += len(chunk)
    return size, digest.hexdigest()


def load_checkpoint(path: str | os.PathLike[str], *, verify: bool = True) -> dict[str, Any]:
    """Verify ``path`` and load each of its files with ``weights_only=True`` onto the CPU.

    Returns ``{file name without ".pt": object}`` plus ``"manifest"``. A file that needs
    anything but tensors and plain data is refused, its payload never runs.
    """
    path = Path(path)
    manifest = verify_checkpoint(path) if verify else json.loads((path / MANIFEST).read_text())
    loaded: dict[str, Any] = {"manifest": manifest}
    for file_name in manifest["files"]:
        file_path = path / file_name
        try:
            loaded[file_name.removesuffix(".pt")] = torch.load(
                file_path, map_location="cpu", weights_only=True
            )
        except pickle.UnpicklingError as error:
            raise CheckpointError(
                f"refused to load {file_path}: it holds objects other than tensors and plain "
                "data, and loading those could run arbitrary code. unitrain only loads with "
                "torch.load(weights_only=True). If you wrote and trust this file, convert it "
                "yourself with torch.load(weights_only=False) and save its state dicts. "
                f"Detail: {str(error).splitlines()[0]}"
            ) from None
        except (OSError, RuntimeError) as error:
            raise CheckpointError(
                f"checkpoint file {file_path} cannot be loaded: {error}"
            ) from None
    return loaded


def list_checkpoints(directory: str | os.PathLike[str]) -> list[Path]:
    """Committed-looking checkpoint directories (temporary ones excluded), oldest first.

    Ordered by commit time (the manifest's ``created``), not by step: after a resume from an
    older checkpoint, the checkpoints of the new attempt are the newest even where an
    abandoned attempt had reached further. A directory whose manifest cannot be read is
    placed by its modification time, so a damaged newest one is tried (and reported) first.
    """
    directory = Path(directory)
    if not directory.is_dir():
        return []
    found = [p for p in directory.iterdir() if p.is_dir() and not p.name.startswith(".")]
    return sorted(found, key=_commit_key)


def _commit_key(path: Path) -> tuple[float, str]:
    try:
        manifest = json.loads((path / MANIFEST).read_text(encoding="utf-8"))
        return float(manifest["created"]), path.name
    except (OSError, ValueError, KeyError, TypeError):
        try:
            return path.stat().st_mtime, path.name
        except OSError:
            return -1.0, path.name


def newest_valid(directory: str | os.PathLike[str]) -> tuple[Path | None, list[str]]:
    """The newest checkpoint under ``directory`` that verifies, and why others were skipped.

    Each skipped one produces a :class:`UnitrainWarning` naming it and the reason.
    """
    skipped: list[str] = []
    for path in reversed(list_checkpoints(directory)):
        try:
            verify_checkpoint(path)
        except CheckpointError as error:
            message = f"skipping checkpoint {path}: {error}"
            skipped.append(message)
            warnings.warn(message, UnitrainWarning, stacklevel=2)
            continue
        return path, skipped
    return None, skipped


def remove_checkpoint(path: Path) -> None:
    """Delete a committed checkpoint: renamed aside first, so it never looks half-present."""
    trash = path.with_name(f".{path.name}.trash-{secrets.token_hex(4)}")
    os.rename(path, trash)
    shutil.rmtree(trash)


def remove_stale(directory: str | os.PathLike[str]) -> list[Path]:
    """Delete temporary directories and files left by writes that died; returns them."""
    directory = Path(directory)
    if not directory.is_dir():
        return []
    stale = [
        p
        for p in directory.iterdir()
        if p.name.startswith(".") and (_TMP in p.name or ".trash-" in p.name or ".old-" in p.name)
    ]
    for path in stale:
        original = path.parent / path.name[1:].split(".old-")[0]
        if ".old-" in path.name and not original.exists():
            os.rename(path, original)  # a re-save died between its two renames: keep the old
            continue
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
        else:
            with contextlib.suppress(OSError):
                path.unlink()
    return stale


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
    target = parent / name
    try:
        entries: dict[str, dict[str, Any]] = {}
        for path in sorted(p for p in tmp.rglob("*") if p.is_file()):
            size, digest = _hash_file(path)
            entries[path.relative_to(tmp).as_posix()] = {"sha256": digest, "bytes": size}
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
        if target.exists():
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
            raise CheckpointError(f"could not commit checkpoint {target}: {error}") from error
        raise
    return target


def temporary_directory(directory: str | os.PathLike[str], name: str) -> Path:
    """A fresh temporary directory beside ``directory / name`` for :func:`commit_directory`
    (the name :func:`remove_stale` recognises as an unfinished write)."""
    parent = Path(directory)
    parent.mkdir(parents=True, exist_ok=True)
    tmp = parent / f".{name}{_TMP}{secrets.token_hex(4)}"
    os.mkdir(tmp)
    return tmp
