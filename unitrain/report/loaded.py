"""The runs a report draws: which folders the command line means, and what each one holds.

``unitrain report`` takes one or more paths. Each is one run (a run folder, or one metrics
file such as ``metrics.2.jsonl``) or a folder of runs (an experiment folder, or a root of
experiments), which stands for every run inside it. Runs are ordered oldest first, so a
run keeps its colour while a watched experiment gains newer ones.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from unitrain.errors import ConfigError
from unitrain.report.colours import run_colour
from unitrain.report.records import Metrics, read_metrics
from unitrain.runs.listing import live_status
from unitrain.runs.names import is_hidden
from unitrain.runs.store import RUN_JSON, read_json

__all__ = ["ReportRun", "Source", "find_sources", "is_live", "load_runs"]


@dataclass(frozen=True, slots=True)
class Source:
    """Where one run's records are: its folder and its metrics file."""

    folder: Path
    metrics_file: Path

    @property
    def files(self) -> tuple[Path, ...]:
        """The files whose change means the page is out of date."""
        return (self.metrics_file, self.folder / RUN_JSON)


@dataclass(slots=True)
class ReportRun:
    """One run as the page shows it: its records, run.json, label and colour."""

    source: Source
    info: dict[str, Any]
    metrics: Metrics
    label: str = ""
    colour: str = "#1f77b4"
    status: str = "not recorded"
    anchor: str = field(default="run-0")

    @property
    def live(self) -> bool:
        """Still training: see :func:`is_live`."""
        return is_live(self.source)


def is_live(source: Source) -> bool:
    """Still training, as far as the folder tells: run.json says RUNNING and its lock is
    held (or, without a lock file, its heartbeat is recent); a folder without a readable
    run.json cannot tell, so it counts as live."""
    info = _info(source.folder)
    return not info or live_status(source.folder, info) == "RUNNING"


def find_sources(paths: Sequence[Path]) -> list[Source]:
    """Every run the paths stand for, oldest first, each once; a clear error for a path that
    holds no run, or for a folder whose several metrics files would be read as one run."""
    if not paths:
        raise ConfigError("unitrain report: name at least one run folder (or experiment folder)")
    found: dict[Path, Source] = {}
    for path in map(Path, paths):
        for source in _sources(path):
            found.setdefault(source.metrics_file.resolve(), source)
    return sorted(found.values(), key=_age)


def load_runs(sources: Sequence[Source]) -> list[ReportRun]:
    """Read every source's records and run.json; give each a colour and a unique label."""
    runs = []
    now = time.time()
    for index, source in enumerate(sources):
        info = _info(source.folder)
        status = live_status(source.folder, info, now) if info else "not recorded"
        run = ReportRun(source, info, read_metrics(source.metrics_file), status=status)
        run.colour, run.anchor = run_colour(index), f"run-{index}"
        runs.append(run)
    labels = [_label(run) for run in runs]
    for run, label in zip(runs, labels, strict=True):
        # the same id in two experiments: the experiment tells them apart
        experiment = run.info.get("experiment") or run.source.folder.parent.name
        run.label = label if labels.count(label) == 1 else f"{experiment}/{label}"
    return runs


def _sources(path: Path) -> list[Source]:
    if path.is_file():
        return [Source(path.parent, path)]
    if not path.is_dir():
        raise ConfigError(f"unitrain report: {path} does not exist; pass a run folder")
    if (path / "metrics.jsonl").is_file() or (path / RUN_JSON).is_file():
        others = sorted(p.name for p in path.glob("metrics.*.jsonl"))
        if others and (path / "metrics.jsonl").is_file():
            files = ", ".join(["metrics.jsonl", *others])
            raise ConfigError(
                f"unitrain report: {path} holds the metrics of {len(others) + 1} runs "
                f"({files}); which one? e.g. unitrain report {path / others[-1]}"
            )
        return [Source(path, path / "metrics.jsonl")]
    children = [
        child
        for child in sorted(path.iterdir())
        if not is_hidden(child.name)  # a run still being made
        and child.is_dir()
        and ((child / "metrics.jsonl").is_file() or (child / RUN_JSON).is_file())
    ]
    if not children:  # a root of experiments: runs one level further down
        children = sorted(
            p.parent for p in path.glob(f"*/*/{RUN_JSON}") if not is_hidden(p.parent.name)
        )
    if not children:
        raise ConfigError(
            f"unitrain report: {path} is not a run folder (no metrics.jsonl or run.json) "
            "and holds no runs; pass a folder made by `unitrain fit` (`unitrain runs` lists them)"
        )
    return [Source(child, child / "metrics.jsonl") for child in children]


def _info(folder: Path) -> dict[str, Any]:
    try:
        return read_json(folder / RUN_JSON)
    except (OSError, ValueError):
        return {}


def _age(source: Source) -> tuple[float, str]:
    created = _info(source.folder).get("created")
    stamp = float(created) if isinstance(created, int | float) else 0.0
    return stamp, str(source.metrics_file)


def _label(run: ReportRun) -> str:
    stored = run.info.get("id")
    name = stored if isinstance(stored, str) and stored else run.source.folder.name
    if run.source.metrics_file.name != "metrics.jsonl":
        name = f"{name}:{run.source.metrics_file.stem}"
    return name
