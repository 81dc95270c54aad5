"""``unitrain report RUN [RUN ...]``: an HTML page and PNGs of runs' curves (matplotlib extra).

Drawn from each run's ``metrics.jsonl`` (see :mod:`unitrain.report.records`) and ``run.json``:
the run's config, hyperparameters, commit, times, versions, plugins and best values (see
:mod:`unitrain.report.sections`), loss and each metric per split over global steps, the
learning rate and, when the message bus recorded them, per-layer heatmaps. Several runs (or
an experiment folder) make one comparison page, one colour per run. :func:`watch_report`
rewrites the page while a run trains.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Sequence
from pathlib import Path

from unitrain.errors import ConfigError
from unitrain.report.loaded import ReportRun, Source, find_sources, load_runs
from unitrain.report.lr_log import LearningRateLog
from unitrain.report.page import render_page
from unitrain.report.plots import Figure, draw_comparison, draw_heatmaps, draw_run
from unitrain.report.records import Metrics, read_metrics
from unitrain.report.watch import watch_report

__all__ = [
    "LearningRateLog",
    "Metrics",
    "ReportRun",
    "default_out",
    "read_metrics",
    "watch_report",
    "write_report",
]


def write_report(
    runs: Path | str | Sequence[Path | str],
    out: Path | None = None,
    *,
    refresh: int | None = None,
    generation: int = 1,
) -> Path:
    """Write ``index.html`` and one PNG per figure into ``out``; returns the page's path.

    ``runs``: one path or several; each a run folder, one metrics file (``metrics.2.jsonl``)
    or a folder of runs (see :func:`~unitrain.report.loaded.find_sources`). One run gets its
    own page; several get a comparison page. ``out`` defaults to :func:`default_out`.
    ``refresh`` (seconds) makes the page reload itself (a run being watched).
    """
    paths = [Path(runs)] if isinstance(runs, str | os.PathLike) else [Path(p) for p in runs]
    sources = find_sources(paths)
    out = default_out(paths, sources) if out is None else Path(out)
    loaded = load_runs(sources)
    curves, per_run = _figures(loaded)
    out.mkdir(parents=True, exist_ok=True)
    for figure in [*curves, *(f for figures in per_run.values() for f in figures)]:
        _write_atomic(out / f"{figure.stem}.png", figure.png)
    if len(loaded) == 1:
        title = f"unitrain run {loaded[0].label}"
    else:
        experiments = sorted({str(r.info.get("experiment") or "?") for r in loaded})
        title = f"unitrain: {len(loaded)} runs of {', '.join(experiments)}"
    page = out / "index.html"
    html = render_page(title, loaded, curves, per_run, refresh=refresh, generation=generation)
    _write_atomic(page, html.encode("utf-8"))
    return page


def default_out(paths: Sequence[Path], sources: Sequence[Source]) -> Path:
    """Where the page goes unless ``--out`` says: ``RUN/report`` for a run folder
    (``RUN/report-metrics.2`` for one metrics file), ``FOLDER/report`` for a folder of runs,
    ``PARENT/report-compare`` for several runs of one folder."""
    if len(paths) == 1:
        path = paths[0]
        if path.is_file():
            return path.parent / f"report-{path.stem}"
        return path / "report"
    parents = {source.folder.resolve().parent for source in sources}
    if len(parents) == 1:
        return parents.pop() / "report-compare"
    raise ConfigError(
        "unitrain report: the runs are in different folders "
        f"({', '.join(sorted(map(str, parents)))}); pass --out DIR for the page"
    )


def _figures(runs: Sequence[ReportRun]) -> tuple[list[Figure], dict[str, list[Figure]]]:
    if len(runs) == 1:
        (run,) = runs
        figures = draw_run(run.metrics, _modules(run))
        heatmaps = [f for f in figures if f.stem.startswith("heatmap-")]
        curves = [f for f in figures if not f.stem.startswith("heatmap-")]
        return curves, {run.anchor: heatmaps}
    curves = draw_comparison([(r.label, r.colour, r.metrics) for r in runs])
    per_run = {
        r.anchor: draw_heatmaps(r.metrics, _modules(r), run=r.label, prefix=f"{r.anchor}-")
        for r in runs
    }
    return curves, per_run


def _modules(run: ReportRun) -> dict[str, str]:
    """Module classes by name: the bus log's record, else run.json's ``model.modules``."""
    model = run.info.get("model")
    modules = model.get("modules") if isinstance(model, dict) else None
    found = {str(k): str(v) for k, v in modules.items()} if isinstance(modules, dict) else {}
    return found | run.metrics.modules


def _write_atomic(path: Path, data: bytes) -> None:
    """A browser reloading the page mid-write never reads half a file."""
    tmp = path.with_name(f".{path.name}.tmp-{secrets.token_hex(4)}")
    try:
        tmp.write_bytes(data)
        os.replace(tmp, path)
    except BaseException:  # Ctrl-C of a watch mid-write: no temporary file left behind
        tmp.unlink(missing_ok=True)
        raise
