"""The run store: one directory per run, created atomically, with a status file.

Layout of one run (``root`` defaults to ``runs``)::

    <root>/<experiment>/<YYYYmmdd-HHMMSS>-<6 hex>/
        run.json        status, heartbeat, restarts, config, git, versions, host, best metric;
                        the run store adds plugins, monitors, hyperparameters, model
                        (:mod:`unitrain.runs.describe`)
        metrics.jsonl   one JSON object per logged record: {"step", "epoch", "split", ...values}
        checkpoints/    step-000000123/ directories (see :mod:`unitrain.runs.checkpoint`), latest
        artifacts/      anything else a plugin wants to keep (plots, exported models)

The API (stable; the PytorchTask Snapshot and the CLI are views on it):

- :func:`create_run` makes a new run directory with its first ``run.json`` in a hidden
  folder and renames it into place (atomic: two concurrent launches never get the same
  directory, and a process killed meanwhile leaves no half-made run).
- :meth:`RunDir.open` opens an existing run directory (to resume or to list it).
- :attr:`RunDir.run_json`, :attr:`RunDir.metrics_jsonl`, :attr:`RunDir.checkpoints`,
  :attr:`RunDir.artifacts`: the paths.
- :meth:`RunDir.info` reads ``run.json``; :meth:`RunDir.update` merges fields into it (written
  to a temporary file beside it, fsynced, then ``os.replace``d: a reader never sees half a file).
- :meth:`RunDir.set_status` records RUNNING / COMPLETED / FAILED / INTERRUPTED (with the error).
- :meth:`RunDir.heartbeat` stamps ``heartbeat`` at most every ``interval`` seconds.
- :meth:`RunDir.append_metrics` appends one record to ``metrics.jsonl`` (for occasional
  records; the per-step writer is :class:`unitrain.runs.metrics.MetricsWriter`).
"""

from __future__ import annotations

import contextlib
import errno
import importlib.metadata
import json
import os
import platform
import secrets
import shutil
import socket
import subprocess
import sys
import time
import warnings
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from unitrain.errors import RunError, UnitrainWarning
from unitrain.runs.names import check_name
from unitrain.runs.safe_io import open_regular, read_regular

__all__ = ["RunDir", "RunStatus", "create_run", "read_json", "write_json_atomic"]

RUN_JSON = "run.json"
METRICS_JSONL = "metrics.jsonl"
CHECKPOINTS = "checkpoints"
ARTIFACTS = "artifacts"


class RunStatus(StrEnum):
    """The life of a run, as recorded in ``run.json``."""

    RUNNING = "RUNNING"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    INTERRUPTED = "INTERRUPTED"


@dataclass(slots=True, eq=False)
class RunDir:
    """One run directory; every method works on the files inside ``path``."""

    path: Path
    _last_beat: float = field(default=0.0, repr=False)

    @classmethod
    def open(cls, path: str | os.PathLike[str]) -> RunDir:
        """Open an existing run directory (it must hold a ``run.json``)."""
        run = cls(Path(path))
        if not run.run_json.is_file():
            raise FileNotFoundError(
                f"{run.path} is not a unitrain run directory: it has no {RUN_JSON}; "
                "pass a directory made by a fit (runs/<experiment>/<timestamp>-<id>)"
            )
        return run

    @property
    def name(self) -> str:
        """The directory name, ``<timestamp>-<id>``."""
        return self.path.name

    @property
    def run_json(self) -> Path:
        """Path of ``run.json`` (status, heartbeat, config, ...)."""
        return self.path / RUN_JSON

    @property
    def metrics_jsonl(self) -> Path:
        """Path of ``metrics.jsonl`` (one JSON object per line)."""
        return self.path / METRICS_JSONL

    @property
    def checkpoints(self) -> Path:
        """Directory of the committed checkpoints and the ``latest`` pointer."""
        return self.path / CHECKPOINTS

    @property
    def artifacts(self) -> Path:
        """Directory for files plugins want to keep with the run."""
        return self.path / ARTIFACTS

    # ------------------------------------------------------------------ run.json

    def info(self) -> dict[str, Any]:
        """The content of ``run.json``; :class:`RunError` naming it if it is not a JSON object."""
        try:
            return read_json(self.run_json)
        except FileNotFoundError:
            raise RunError(
                f"{self.run_json} is missing: {self.path} is not (or no longer) a complete run "
                "folder"
            ) from None
        except (OSError, ValueError) as error:
            raise RunError(
                f"{self.run_json} is unreadable ({error}); the run's checkpoints and metrics "
                "are untouched. Restore the file, or move it away to have a fresh one written"
            ) from None

    def update(self, **fields: Any) -> dict[str, Any]:
        """Merge ``fields`` into ``run.json`` atomically; returns the new content."""
        info = self.info() if self.run_json.exists() else {}
        info.update(fields)
        write_json_atomic(self.run_json, info)
        return info

    def set_status(self, status: RunStatus | str, error: BaseException | str | None = None) -> None:
        """Record the run's status; a final status also stamps ``ended`` (and the error)."""
        status = RunStatus(status)
        now = time.time()
        fields: dict[str, Any] = {"status": status.value, "heartbeat": now}
        if status is RunStatus.RUNNING:
            fields.update(ended=None, error=None)
        else:
            fields["ended"] = now
            if error is not None:
                fields["error"] = (
                    error if isinstance(error, str) else f"{type(error).__name__}: {error}"
                )
        self.update(**fields)
        self._last_beat = time.monotonic()

    def heartbeat(self, interval: float = 30.0, **fields: Any) -> bool:
        """Stamp ``heartbeat`` (and ``fields``) if ``interval`` seconds passed; True if written."""
        now = time.monotonic()
        if now - self._last_beat < interval:
            return False
        self._last_beat = now
        self.update(heartbeat=time.time(), **fields)
        return True

    # ------------------------------------------------------------------ metrics.jsonl

    def append_metrics(self, record: Mapping[str, Any]) -> None:
        """Append one record (a JSON object: step, epoch, split and values) to metrics.jsonl."""
        line = json.dumps(dict(record), allow_nan=True, separators=(",", ":")) + "\n"
        fd = open_regular(self.metrics_jsonl, os.O_WRONLY | os.O_APPEND | os.O_CREAT)
        with os.fdopen(fd, "a", encoding="utf-8") as stream:
            stream.write(line)

    def read_metrics(self) -> list[dict[str, Any]]:
        """Every complete record of metrics.jsonl (a torn last line is ignored)."""
        return list(iter_metrics(self.metrics_jsonl))


def create_run(
    root: str | os.PathLike[str] = "runs",
    experiment: str = "default",
    *,
    config: Mapping[str, Any] | None = None,
    **fields: Any,
) -> RunDir:
    """Make ``<root>/<experiment>/<timestamp>-<id>`` with its sub-directories and run.json.

    The run is built whole in a hidden folder beside it (``.creating-<name>``) and renamed
    into place: a process killed while making it leaves no half-made run, only that hidden
    folder, which listings and resumes skip (hidden names are unitrain's own). The rename is
    also the atomic claim of the name: it fails on an existing run (never empty: it holds its
    run.json), and then a new id is drawn. ``config`` and ``fields`` are stored in run.json
    beside the environment facts.
    """
    check_name(experiment, "experiment")
    parent = Path(root) / experiment
    facts = environment()  # before anything is made: git runs a subprocess
    parent.mkdir(parents=True, exist_ok=True)
    for _ in range(100):
        name = f"{time.strftime('%Y%m%d-%H%M%S', time.gmtime())}-{secrets.token_hex(3)}"
        path = parent / name
        if path.exists():
            continue
        building = parent / f".creating-{name}"
        try:
            os.mkdir(building)
        except FileExistsError:
            continue
        try:
            os.mkdir(building / CHECKPOINTS)
            os.mkdir(building / ARTIFACTS)
            now = time.time()
            info: dict[str, Any] = {
                "id": name,
                "experiment": experiment,
                "status": RunStatus.RUNNING.value,
                "created": now,
                "started": now,
                "ended": None,
                "heartbeat": now,
                "restarts": 0,
                "error": None,
                "config": dict(config or {}),
                **facts,
                **fields,
            }
            write_json_atomic(building / RUN_JSON, info)
            os.rename(building, path)
        except OSError as error:
            shutil.rmtree(building, ignore_errors=True)
            if error.errno in (errno.EEXIST, errno.ENOTEMPTY):
                continue  # another process took the name between the check and the rename
            raise
        break
    else:  # pragma: no cover - 100 collisions of 24 random bits within one second
        raise FileExistsError(f"could not create a fresh run directory under {parent}")
    return RunDir(path)


def environment() -> dict[str, Any]:
    """Facts about where the run happens: host, argv, versions, git commit and dirty flag."""
    return {
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "argv": list(sys.argv),
        "cwd": os.getcwd(),
        "versions": versions(),
        "git": git_state(Path.cwd()),
    }


def versions() -> dict[str, str]:
    """Python, the platform and the libraries a run's numbers depend on (those importable)."""
    import pluggy
    import torch

    from unitrain import __version__

    found = {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "unitrain": __version__,
        "torch": torch.__version__,
        "pluggy": pluggy.__version__,
    }
    if torch.version.cuda:
        found["cuda"] = torch.version.cuda
    for distribution in ("numpy", "torchmetrics"):  # read from metadata: nothing is imported
        try:
            found[distribution] = importlib.metadata.version(distribution)
        except importlib.metadata.PackageNotFoundError:
            continue
    return found


def git_state(directory: Path) -> dict[str, Any] | None:
    """``{"commit", "dirty"}`` of the git work tree holding ``directory``, else None."""
    try:
        commit = _git(directory, "rev-parse", "HEAD")
        dirty = bool(_git(directory, "status", "--porcelain", "--untracked-files=no"))
    except (OSError, subprocess.SubprocessError):
        return None
    return {"commit": commit, "dirty": dirty}


def _git(directory: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-C", str(directory), *args],
        capture_output=True,
        text=True,
        timeout=10,
        check=True,
    )
    return done.stdout.strip()


def read_json(path: Path) -> dict[str, Any]:
    """Read a JSON object from ``path`` (a regular file, not a link); ValueError names it."""
    raw = read_regular(path, limit=64 << 20)
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ValueError(f"{path} is not valid JSON: {error}") from None
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a JSON object, got {type(data).__name__}")
    return data


def write_json_atomic(path: Path, data: Mapping[str, Any]) -> None:
    """Write ``data`` to a temporary file beside ``path``, fsync it, then ``os.replace``."""
    tmp = path.with_name(f".{path.name}.tmp-{secrets.token_hex(4)}")
    try:
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
        with os.fdopen(os.open(tmp, flags, 0o644), "w", encoding="utf-8") as stream:
            json.dump(data, stream, indent=2, default=str)
            stream.write("\n")
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


def iter_metrics(path: Path) -> Iterator[dict[str, Any]]:
    """Yield each complete JSON record of a metrics.jsonl (a torn last line is skipped).

    The file is read without following a link; lines that are not a JSON object (garbage
    bytes, a foreign edit) are skipped with one :class:`UnitrainWarning` naming the file and
    the line numbers.
    """
    try:
        fd = open_regular(path)
    except FileNotFoundError:
        return
    except OSError as error:
        raise RunError(f"{path} cannot be read: {error}") from None
    bad: list[int] = []
    with os.fdopen(fd, "rb") as stream:
        for number, raw in enumerate(stream, 1):
            if not raw.endswith(b"\n"):
                break  # the process died mid-write: this line was never committed
            try:
                record = json.loads(raw.decode("utf-8"))
            except (UnicodeDecodeError, json.JSONDecodeError):
                record = None
            if isinstance(record, dict):
                yield record
            elif raw.strip():
                bad.append(number)
    if bad:
        shown = ", ".join(map(str, bad[:10])) + (" ..." if len(bad) > 10 else "")
        warnings.warn(
            f"{path}: skipped {len(bad)} line(s) that are not JSON records (line {shown})",
            UnitrainWarning,
            stacklevel=2,
        )
