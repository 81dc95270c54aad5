"""``unitrain runs``: a table of the runs under a root directory."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from unitrain.runs.lock import LOCK_FILE, STALE_AFTER_S, holder
from unitrain.runs.names import is_hidden
from unitrain.runs.store import RUN_JSON, read_json

__all__ = ["find_runs", "live_status", "print_runs_table"]

_STYLES = {
    "RUNNING": "cyan",
    "COMPLETED": "green",
    "FAILED": "red",
    "INTERRUPTED": "yellow",
    "CRASHED": "magenta",
}


def live_status(path: Path, info: dict[str, Any], now: float | None = None) -> str:
    """The status to show: run.json's, except that a RUNNING run whose process is gone is
    ``CRASHED`` (killed without a word: SIGKILL, the OOM killer, a disk too full to record
    FAILED).

    Gone means: its lock file is there and nobody holds the lock (the kernel released it when
    the process died), or, for a run without a lock file, a heartbeat older than
    :data:`~unitrain.runs.lock.STALE_AFTER_S`.
    """
    status = str(info.get("status", "?"))
    if status != "RUNNING":
        return status
    if (path / LOCK_FILE).is_file():
        return "RUNNING" if holder(path) is not None else "CRASHED"
    beat = info.get("heartbeat")
    now = time.time() if now is None else now
    if isinstance(beat, int | float) and now - beat > STALE_AFTER_S:
        return f"CRASHED (no heartbeat for {_hms(now - beat)})"
    return status


def find_runs(root: Path) -> list[tuple[Path, dict[str, Any]]]:
    """``(run directory, run.json)`` of every run under ``root`` (any depth), newest first.

    ``root`` may also be one experiment directory or one run directory. Unreadable run.json
    files are listed with status ``UNREADABLE``.
    """
    root = Path(root)
    files = [root / RUN_JSON] if (root / RUN_JSON).is_file() else sorted(root.rglob(RUN_JSON))
    # a hidden folder is a run still being made (or whose making was killed)
    files = [f for f in files if not any(map(is_hidden, f.relative_to(root).parts))]
    runs: list[tuple[Path, dict[str, Any]]] = []
    for path in files:
        try:
            info = read_json(path)
        except (OSError, ValueError) as error:
            info = {"status": "UNREADABLE", "error": str(error)}
        runs.append((path.parent, info))
    runs.sort(key=lambda item: float(item[1].get("created") or 0), reverse=True)
    return runs


def print_runs_table(root: Path, console: Console | None = None) -> int:
    """Print runs under ``root`` (status, best metric, duration, ...); returns how many."""
    console = console or Console()
    runs = find_runs(root)
    if not runs:
        console.print(f"no runs under {root}")
        return 0
    now = time.time()
    table = Table(title=f"runs under {root}")
    for column in (
        "run",
        "experiment",
        "status",
        "best",
        "step",
        "restarts",
        "duration",
        "started",
    ):
        table.add_column(column, justify="right" if column in ("step", "restarts") else "left")
    for path, info in runs:
        status = live_status(path, info, now)
        style = _STYLES.get(status.split(" ")[0], "magenta")
        table.add_row(
            path.name,
            str(info.get("experiment", path.parent.name)),
            f"[{style}]{status}[/{style}]",
            _best(info),
            str(info.get("global_step", "")),
            str(info.get("restarts", "")),
            _duration(info),
            _started(info),
        )
    console.print(table)
    return len(runs)


def _best(info: dict[str, Any]) -> str:
    best = info.get("best")
    if not isinstance(best, dict) or best.get("value") is None:
        return "-"
    return f"{best.get('name', '?')}={best['value']:.4g} ({best.get('mode', '?')})"


def _duration(info: dict[str, Any]) -> str:
    start = info.get("started") or info.get("created")
    end = info.get("ended") or info.get("heartbeat")
    if not isinstance(start, int | float) or not isinstance(end, int | float):
        return "-"
    return _hms(end - start)


def _hms(seconds_float: float) -> str:
    seconds = max(0, int(seconds_float))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def _started(info: dict[str, Any]) -> str:
    start = info.get("started") or info.get("created")
    if not isinstance(start, int | float):
        return "-"
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(start))
