"""Running ``unitrain fit`` in a fresh Python process, as a user would."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["FitRun", "run_cli", "run_fit"]

_RUN_LINE = re.compile(r"^run: (.+)$", re.MULTILINE)


@dataclass(frozen=True, slots=True)
class FitRun:
    """What a CLI process did: exit code, output, and the run folder it reported."""

    returncode: int
    stdout: str
    stderr: str
    run_dir: Path | None

    def check(self) -> FitRun:
        """Raise an AssertionError showing the output unless the process succeeded."""
        if self.returncode != 0:
            raise AssertionError(
                f"unitrain exited with {self.returncode}\n--- stdout\n{self.stdout}"
                f"\n--- stderr\n{self.stderr}"
            )
        return self


def run_cli(
    args: Sequence[str],
    *,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    python: str | Path = sys.executable,
    timeout: float = 120.0,
) -> FitRun:
    """Run ``python -m unitrain ARGS``; ``env`` is added to a copy of this environment."""
    environment = {**os.environ, "OMP_NUM_THREADS": "1", **(env or {})}
    completed = subprocess.run(
        [str(python), "-m", "unitrain", *args],
        cwd=cwd,
        env=environment,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    found = _RUN_LINE.search(completed.stdout)
    return FitRun(
        completed.returncode,
        completed.stdout,
        completed.stderr,
        Path(found.group(1).strip()) if found else None,
    )


def run_fit(
    config: Path | Mapping[str, Any],
    workdir: Path,
    *,
    args: Sequence[str] = (),
    env: Mapping[str, str] | None = None,
    python: str | Path = sys.executable,
    timeout: float = 120.0,
) -> FitRun:
    """``unitrain fit CONFIG`` in a subprocess, with runs under ``workdir/runs``.

    ``config`` is a path, or a mapping written to ``workdir/run.toml``. Extra CLI arguments
    (``-p name``, ``--set key=value``) go in ``args``.
    """
    from unitrain.config.toml_out import dump_toml

    workdir.mkdir(parents=True, exist_ok=True)
    if isinstance(config, Mapping):
        data = dict(config)
        data["run"] = {"root": str(workdir / "runs"), **dict(data.get("run", {}))}
        path = workdir / "run.toml"
        path.write_text(dump_toml(data), encoding="utf-8")
    else:
        path = Path(config)
    return run_cli(["fit", str(path), *args], cwd=workdir, env=env, python=python, timeout=timeout)
