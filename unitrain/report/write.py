"""``write_report``: one run's page and figures (the body of ``unitrain report RUN``)."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from unitrain.errors import ConfigError
from unitrain.report.page import render_page
from unitrain.report.plots import draw_all
from unitrain.report.records import read_metrics

__all__ = ["write_report"]

_FACTS = ("id", "experiment", "status", "created", "ended", "restarts", "error", "argv")


def write_report(run: Path, out: Path | None = None) -> Path:
    """Write ``index.html`` and one PNG per figure into ``out`` (default ``RUN/report``);
    returns the page's path.

    ``run`` is one run: a run folder, or one metrics file (``metrics.2.jsonl``). Given a
    folder of several runs (an experiment folder, or a folder with several runs' metrics
    files), it draws none of them mixed together: the error lists them to choose from.
    """
    run = Path(run)
    metrics_file, run = (run, run.parent) if run.is_file() else (run / "metrics.jsonl", run)
    if not run.is_dir() or not (metrics_file.is_file() or (run / "run.json").is_file()):
        raise ConfigError(_which_run(run))
    others = sorted(p.name for p in run.glob("metrics.*.jsonl"))
    if metrics_file.name == "metrics.jsonl" and others:
        files = ", ".join(["metrics.jsonl", *others])
        raise ConfigError(
            f"unitrain report: {run} holds the metrics of {len(others) + 1} runs ({files}); "
            f"which one? e.g. unitrain report {run / others[-1]}"
        )
    metrics = read_metrics(metrics_file)
    figures = draw_all(metrics)
    default = "report" if metrics_file.name == "metrics.jsonl" else f"report-{metrics_file.stem}"
    out = run / default if out is None else Path(out)
    out.mkdir(parents=True, exist_ok=True)
    for figure in figures:
        (out / f"{figure.stem}.png").write_bytes(figure.png)
    info = _run_info(run)
    page = out / "index.html"
    page.write_text(
        render_page(f"unitrain run {info.get('id', run.name)}", info, metrics.final(), figures),
        encoding="utf-8",
    )
    return page


def _which_run(folder: Path) -> str:
    """The error for a folder that is not one run: its runs to choose from, if any."""
    runs = (
        sorted(
            (
                p
                for p in folder.iterdir()
                if (p / "metrics.jsonl").is_file() or (p / "run.json").is_file()
            ),
            reverse=True,
        )
        if folder.is_dir()
        else []
    )
    if not runs:
        return (
            f"unitrain report: {folder} is not a run folder (no metrics.jsonl or run.json); "
            "pass a folder made by `unitrain fit` (`unitrain runs` lists them)"
        )
    shown = "\n".join(f"  unitrain report {p}" for p in runs[:10])
    more = f"\n  ... and {len(runs) - 10} more" if len(runs) > 10 else ""
    return (
        f"unitrain report: {folder} holds {len(runs)} runs; which one? (newest first)\n"
        f"{shown}{more}"
    )


def _run_info(run: Path) -> dict[str, Any]:
    try:
        stored = json.loads((run / "run.json").read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        stored = {}
    info = {key: stored.get(key) for key in _FACTS if key in stored}
    for key in ("created", "ended"):
        if isinstance(info.get(key), int | float):
            info[key] = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(info[key]))
    info.setdefault("id", run.name)
    info["folder"] = str(run.resolve())
    return info
