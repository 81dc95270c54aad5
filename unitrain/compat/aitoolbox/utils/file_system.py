"""``aitoolbox.utils.file_system``: folder hierarchies and archives.

Unpacking is safe where aitoolbox's was not: a member whose path leaves the target folder
(``../``, an absolute path, a link) is refused instead of written outside it.
"""

from __future__ import annotations

import os
import shutil
import tarfile
import zipfile
from collections.abc import Iterable

from unitrain.errors import ConfigError

__all__ = ["create_folder_hierarchy", "unzip_file", "zip_folder"]


def create_folder_hierarchy(
    base_folder_path: str, folder_names: Iterable[str]
) -> tuple[str, list[str]]:
    """Create ``base/<a>/<b>/...``; returns the deepest path and every path on the way."""
    if not os.path.exists(base_folder_path):
        raise ConfigError(
            f"create_folder_hierarchy: base folder {base_folder_path!r} does not exist; "
            "create it first or pass an existing folder"
        )
    folder = base_folder_path
    created = [folder]
    for name in folder_names:
        folder = os.path.join(folder, name)
        created.append(folder)
        os.makedirs(folder, exist_ok=True)
    return folder, created


def zip_folder(source_dir_path: str, zip_path: str) -> str:
    """Zip ``source_dir_path`` into ``zip_path`` (``.zip`` added when missing); its path."""
    base = zip_path[:-4] if zip_path.endswith(".zip") else zip_path
    shutil.make_archive(base, "zip", source_dir_path)
    return base + ".zip"


def _inside(target: str, member: str) -> bool:
    root = os.path.realpath(target)
    path = os.path.realpath(os.path.join(target, member))
    return path == root or path.startswith(root + os.sep)


def unzip_file(file_path: str, target_dir_path: str) -> None:
    """Unpack a ``.zip`` or ``.tar.gz`` archive into ``target_dir_path``."""
    if file_path.endswith(".zip"):
        with zipfile.ZipFile(file_path) as archive:
            bad = [n for n in archive.namelist() if not _inside(target_dir_path, n)]
            if bad:
                raise ConfigError(
                    f"unzip_file: {file_path!r} has members outside the target: {bad}"
                )
            archive.extractall(target_dir_path)
    elif file_path.endswith(".tar.gz"):
        with tarfile.open(file_path, "r") as archive:
            # The "data" filter refuses absolute paths, "..", links out of the folder and
            # device files: what a downloaded archive must not be able to do.
            try:
                archive.extractall(target_dir_path, filter="data")
            except tarfile.FilterError as error:
                raise ConfigError(
                    f"unzip_file: {file_path!r} is unsafe to unpack: {error}"
                ) from None
    else:
        raise ConfigError(f"unzip_file: {file_path!r} is neither a .zip nor a .tar.gz archive")
