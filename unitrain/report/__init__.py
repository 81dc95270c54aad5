"""``unitrain report RUN``: an HTML page and PNGs of a run's curves (matplotlib extra).

Drawn from the run's ``metrics.jsonl`` (see :mod:`unitrain.report.records`): loss and each
metric per split over global steps, the learning rate, and, when the message bus recorded
them, per-layer heatmaps of gradient norms and update ratios over steps.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from unitrain.errors import ConfigError
from unitrain.report.lr_log import LearningRateLog
from unitrain.report.page import render_page
from unitrain.report.plots import draw_all
from unitrain.report.records import Metrics, read_metrics

__all__ = ["LearningRateLog", "Metrics", "read_metrics", "write_report"]

_FACTS = ("id", "experiment", "status", "created", "ended", "restarts", "error", "argv")


def write_report(run: Path, out: Path | None = None) -> Path:
    """Write ``index.html`` and one PNG per figure into ``out`` (default ``RUN/report``);
    returns the page's path."""
    run = Path(run)
    metrics_file = run / "metrics.jsonl"
    if not run.is_dir() or not (metrics_file.is_file() or (run / "run.json").is_file()):
        raise ConfigError(
            f"unitrain report: {run} is not a run folder (no metrics.jsonl or run.json); "
            "pass a folder made by `unitrain fit` (`unitrain runs` lists them)"
        )
    metrics = read_metrics(metrics_file)
    figures = draw_all(metrics)
    out = run / "report" if out is None else Path(out)
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
