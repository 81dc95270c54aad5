"""Nested virtual environments for the install tests, working from inside a venv too."""

from __future__ import annotations

import os
import site
import subprocess
import sys
import sysconfig
from pathlib import Path


def run(
    *command: str | Path, cwd: Path | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run offline (no package index), asserting success."""
    done = subprocess.run(
        [str(c) for c in command],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
        cwd=cwd,
        env={**os.environ, "OMP_NUM_THREADS": "1", "PIP_NO_INDEX": "1"} if env is None else env,
    )
    assert done.returncode == 0, f"{command}\n{done.stdout}\n{done.stderr}"
    return done


def see_this_environment(venv: Path) -> None:
    """Make ``venv`` see this interpreter's packages, after its own.

    Not ``--system-site-packages``: inside a virtual environment that means the *base*
    interpreter's packages (no torch, no unitrain, no pytest). A ``.pth`` file whose line
    runs ``site.addsitedir`` for each of this interpreter's site directories also processes
    the ``.pth`` files there (an editable install of unitrain is one).
    """
    dirs = [*site.getsitepackages()]
    if site.ENABLE_USER_SITE:
        dirs.append(site.getusersitepackages())
    purelib = sysconfig.get_path("purelib", vars={"base": str(venv), "platbase": str(venv)})
    calls = "; ".join(f"site.addsitedir({d!r})" for d in dirs if Path(d).is_dir())
    Path(purelib, "_outer_environment.pth").write_text(f"import site; {calls}\n")


def make_venv(root: Path) -> Path:
    """A venv under ``root`` that sees this environment; returns its python."""
    venv = root / "venv"
    run(sys.executable, "-m", "venv", "--without-pip", venv)
    see_this_environment(venv)
    return venv / "bin" / "python"
