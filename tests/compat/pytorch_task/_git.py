"""A throwaway git repository for the snapshot and command-line tests."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

_ENV = {
    "GIT_AUTHOR_NAME": "t",
    "GIT_AUTHOR_EMAIL": "t@example.com",
    "GIT_COMMITTER_NAME": "t",
    "GIT_COMMITTER_EMAIL": "t@example.com",
    "GIT_CONFIG_GLOBAL": os.devnull,
    "GIT_CONFIG_SYSTEM": os.devnull,
}


def git(repo: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-C", str(repo), *args],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, **_ENV},
    )
    return done.stdout.strip()


def make_repo(path: Path) -> Path:
    """A repository with one commit holding ``task.py``."""
    path.mkdir(parents=True, exist_ok=True)
    git(path, "init", "-q")
    (path / "task.py").write_text("# version 1\n")
    git(path, "add", "task.py")
    git(path, "commit", "-q", "-m", "v1")
    return path
