"""Reading a checkpoint: the manifest's shape, each file's hash, and the weights-only loader.

A checkpoint counts only when :func:`verify_checkpoint` passes: the folder is a real folder
(not a link), ``MANIFEST.json`` is a JSON object of the expected shape (format, an integer
format version this unitrain reads, a non-empty ``files`` table whose keys are plain file
names inside the folder and whose entries hold an integer size and a 64-hex sha256), and
every listed file is a regular file (no link, no device) of that size and hash that starts
like a ``torch.save`` file. Any deviation raises :class:`~unitrain.errors.CheckpointError`
naming the file: the callers skip that checkpoint and fall back to an older one, as for a
corrupt file. :func:`load_weights_only` is the one place files are unpickled, always with
``torch.load(weights_only=True)``, and a refusal says what the file is and what to do.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import pickle
import re
import stat
from pathlib import Path
from typing import Any

import torch

from unitrain.errors import CheckpointError
from unitrain.runs.names import name_problem
from unitrain.runs.safe_io import open_regular, read_regular

__all__ = ["FORMAT", "FORMAT_VERSION", "MANIFEST", "load_checkpoint", "load_weights_only"]
__all__ += ["verify_checkpoint"]

MANIFEST = "MANIFEST.json"
FORMAT = "unitrain-checkpoint"
FORMAT_VERSION = 1
_SHA256 = re.compile(r"[0-9a-f]{64}")
#: ``torch.save`` writes a zip archive (``PK``); the legacy format starts with a pickle opcode.
_MAGIC = (b"PK\x03\x04", b"\x80")


def read_manifest(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The checked manifest of the checkpoint folder ``path`` (its files are not hashed)."""
    path = Path(path)
    try:
        if not stat.S_ISDIR(os.lstat(path).st_mode):
            raise CheckpointError(f"{path} is not a checkpoint folder (a link or a file)")
    except FileNotFoundError:
        raise CheckpointError(f"{path}: no such checkpoint folder") from None
    manifest_path = path / MANIFEST
    try:
        manifest = json.loads(read_regular(manifest_path, limit=16 << 20).decode("utf-8"))
    except FileNotFoundError:
        raise CheckpointError(
            f"{path} is not a committed checkpoint: {MANIFEST} is missing (the write did not "
            "finish)"
        ) from None
    except (OSError, ValueError) as error:
        raise CheckpointError(f"{manifest_path} cannot be read: {error}") from None
    problem = _manifest_problem(manifest)
    if problem is not None:
        raise CheckpointError(
            f"{manifest_path} is not a valid unitrain checkpoint manifest: {problem}"
        )
    return dict(manifest)


def _manifest_problem(manifest: Any) -> str | None:
    if not isinstance(manifest, dict):
        return f"expected a JSON object, got {type(manifest).__name__}"
    if manifest.get("format") != FORMAT:
        return f"'format' is {manifest.get('format')!r}, expected {FORMAT!r}"
    version = manifest.get("format_version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        return f"'format_version' is {version!r}, expected an integer such as {FORMAT_VERSION}"
    if version > FORMAT_VERSION:
        return f"format version {version}, this unitrain reads up to {FORMAT_VERSION}; upgrade it"
    files = manifest.get("files")
    if not isinstance(files, dict) or not files:
        return "'files' must be a non-empty object {file name: {sha256, bytes}}"
    for name, entry in files.items():
        if name_problem(name) is not None or name == MANIFEST:
            return f"file name {name!r} is not a plain file name inside the checkpoint"
        if not isinstance(entry, dict):
            return f"entry of {name!r} must be an object, got {type(entry).__name__}"
        size, digest = entry.get("bytes"), entry.get("sha256")
        if not isinstance(size, int) or isinstance(size, bool) or size < 0:
            return f"'bytes' of {name!r} is {size!r}, expected a size in bytes"
        if not isinstance(digest, str) or _SHA256.fullmatch(digest) is None:
            return f"'sha256' of {name!r} is {digest!r}, expected 64 hex digits"
    position = manifest.get("position")
    if position is not None and not (
        isinstance(position, dict)
        and all(isinstance(v, int) and not isinstance(v, bool) for v in position.values())
    ):
        return f"'position' is {position!r}, expected an object of integers"
    return None


def verify_checkpoint(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Check the manifest and every file's kind, size and sha256; returns the manifest.

    Raises :class:`CheckpointError` naming the first file that is missing or differs.
    """
    path = Path(path)
    manifest = read_manifest(path)
    for file_name, entry in manifest["files"].items():
        file_path = path / file_name
        try:
            size, digest, head = _hash_file(file_path, entry["bytes"])
        except OSError as error:
            raise CheckpointError(f"checkpoint file {file_path} cannot be read: {error}") from None
        if size != entry["bytes"] or digest != entry["sha256"]:
            raise CheckpointError(
                f"checkpoint file {file_path} is corrupt: expected {entry['bytes']} bytes with "
                f"sha256 {entry['sha256'][:12]}…, found {size} bytes with sha256 {digest[:12]}…"
            )
        if not head.startswith(_MAGIC):
            what = "empty" if size == 0 else f"starts with {head[:4]!r}"
            raise CheckpointError(
                f"checkpoint file {file_path} is not a torch.save file ({what}), although "
                "its manifest matches it: the checkpoint was tampered with"
            )
    return manifest


def _hash_file(path: Path, expected: int) -> tuple[int, str, bytes]:
    fd = open_regular(path)
    try:
        size = os.fstat(fd).st_size
        if size != expected:  # no need to read a file of the wrong size
            return size, "-" * 64, b""
        digest = hashlib.sha256()
        with os.fdopen(fd, "rb", closefd=False) as stream:
            head = stream.read(4)
            digest.update(head)
            while chunk := stream.read(1 << 20):
                digest.update(chunk)
        return size, digest.hexdigest(), head
    finally:
        os.close(fd)


def load_weights_only(path: str | os.PathLike[str], what: str = "file") -> Any:
    """``torch.load(path, weights_only=True)`` onto the CPU, with unitrain's own messages.

    A file that needs anything but tensors and plain data is refused (its payload never
    runs), as is a link or a device; any other failure names the file. ``what`` says what
    the file is for ("checkpoint file", "model file", ...).
    """
    path = Path(path)
    try:
        fd = open_regular(path)
    except OSError as error:
        raise CheckpointError(f"{what} {path} cannot be opened: {error}") from None
    try:
        with os.fdopen(fd, "rb", closefd=False) as stream:
            data = io.BytesIO(stream.read())
    finally:
        os.close(fd)
    try:
        return torch.load(data, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        raise CheckpointError(
            f"refused to load {what} {path}: it holds objects other than tensors and plain "
            "data, and loading those could run arbitrary code. unitrain only loads with "
            "torch.load(weights_only=True). If you wrote and trust this file, convert it "
            "yourself with torch.load(weights_only=False) and save its state dicts. "
            f"Detail: {(str(error).splitlines() or [''])[0]}"
        ) from None
    except Exception as error:  # EOFError, zip errors, RuntimeError: all mean "not loadable"
        raise CheckpointError(
            f"{what} {path} cannot be loaded ({type(error).__name__}: {error}); it is "
            "truncated or not a torch.save file"
        ) from None


def load_checkpoint(path: str | os.PathLike[str], *, verify: bool = True) -> dict[str, Any]:
    """Verify ``path`` and load each of its files with ``weights_only=True`` onto the CPU.

    Returns ``{file name without ".pt": object}`` plus ``"manifest"``. A file that needs
    anything but tensors and plain data is refused, its payload never runs.
    """
    path = Path(path)
    manifest = verify_checkpoint(path) if verify else read_manifest(path)
    loaded: dict[str, Any] = {"manifest": manifest}
    for file_name in manifest["files"]:
        loaded[file_name.removesuffix(".pt")] = load_weights_only(
            path / file_name, "checkpoint file"
        )
    return loaded
