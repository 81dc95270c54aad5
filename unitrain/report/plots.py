"""The report's figures, drawn with matplotlib (the ``report`` extra) into PNG bytes.

A figure's title is the page's heading above it and its caption says how to read it, so the
PNG itself carries no title. Every PNG is saved with ``bbox_inches="tight"``: the canvas
grows to hold every tick label, axis label and colour-bar label, so none is cut off.
"""

from __future__ import annotations

import io
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from unitrain.errors import UnitrainError
from unitrain.report.records import Metrics, Series, is_learning_rate

__all__ = ["Figure", "Line", "draw_comparison", "draw_heatmaps", "draw_run", "heatmap_rows"]

_STAT_TITLES = {
    "grad_norm": "Gradient norm per layer",
    "update_ratio": "Update:weight ratio per layer",
}
_SMOOTHING = 0.9
_ROWS_NAMED = 40  # a heatmap's caption names this many rows (the image names them all)


@dataclass(frozen=True, slots=True)
class Figure:
    """One drawn figure: a file-name stem, a title (the heading), a caption, its PNG bytes."""

    stem: str
    title: str
    caption: str
    png: bytes


@dataclass(frozen=True, slots=True)
class Line:
    """One run's series in a comparison chart."""

    label: str
    colour: str
    series: Series


def draw_run(metrics: Metrics, modules: Mapping[str, str] | None = None) -> list[Figure]:
    """One run: loss first, each metric with its splits, the learning rate, one heatmap per
    per-layer statistic (rows named by module, with its class when run.json has it)."""
    plt = _pyplot()
    figures: list[Figure] = []
    for name in _plain_names(metrics):
        figures.append(_curves(plt, name, metrics.series[name]))
    if metrics.learning_rates:
        lrs = metrics.learning_rates
        figures.append(_curves(plt, "learning rate", lrs, stem="lr", title="Learning rate"))
    return figures + draw_heatmaps(metrics, modules)


def draw_heatmaps(
    metrics: Metrics, modules: Mapping[str, str] | None = None, run: str = "", prefix: str = ""
) -> list[Figure]:
    """One heatmap per per-layer statistic; ``run`` names the run in the titles and
    ``prefix`` starts the stems, for a page with several runs."""
    plt = _pyplot()
    figures = []
    for stat in sorted(metrics.layers):
        figure = _heatmap(plt, stat, metrics.layers[stat], modules or {})
        title = f"{figure.title} ({run})" if run else figure.title
        figures.append(Figure(prefix + figure.stem, title, figure.caption, figure.png))
    return figures


def draw_comparison(
    runs: Sequence[tuple[str, str, Metrics]],
) -> list[Figure]:
    """Several runs, ``(label, colour, metrics)`` each: one chart per metric and split with a
    line per run in the run's colour, and one for each run's learning rate."""
    plt = _pyplot()
    names: dict[str, set[str]] = {}
    for _, _, metrics in runs:
        for name in _plain_names(metrics):
            names.setdefault(name, set()).update(metrics.series[name])
    order = sorted(names, key=lambda n: (n != "loss", n))
    figures = []
    for name in order:
        for split in sorted(names[name], key=lambda s: (s != "train", s)):
            lines = [
                Line(label, colour, metrics.series[name][split])
                for label, colour, metrics in runs
                if split in metrics.series.get(name, {})
            ]
            figures.append(_compare(plt, name, split, lines))
    lrs = [
        Line(label if len(m.learning_rates) == 1 else f"{label} {key}", colour, series)
        for label, colour, m in runs
        for key, series in m.learning_rates.items()
    ]
    if lrs:
        figures.append(_compare(plt, "learning rate", "", lrs))
    return figures


def heatmap_rows(layers: Sequence[str], modules: Mapping[str, str]) -> list[str]:
    """Row labels: each layer's name with its module class (``0 (Linear)``,
    ``fc1.weight (Linear)``) when the run recorded the model's modules."""
    labels = []
    for layer in layers:
        owner = layer if layer in modules else layer.rpartition(".")[0]
        kind = modules.get(owner) if owner else None
        labels.append(f"{layer} ({kind})" if kind else layer)
    return labels


# ---------------------------------------------------------------------- drawing


def _pyplot() -> Any:
    try:
        import matplotlib
    except ImportError:
        raise UnitrainError(
            "unitrain report draws its plots with matplotlib, which is not installed: "
            "pip install 'unitrain[report]'"
        ) from None
    matplotlib.use("Agg")  # files only, never a window
    import matplotlib.pyplot as plt

    return plt


def _plain_names(metrics: Metrics) -> list[str]:
    names = sorted(n for n in metrics.series if not is_learning_rate(n))
    names.sort(key=lambda n: n != "loss")  # loss first
    return names


def _curves(
    plt: Any, name: str, splits: dict[str, Series], stem: str | None = None, title: str = ""
) -> Figure:
    figure, axes = plt.subplots(figsize=(7, 3.6), dpi=100)
    smoothed = False
    for index, (split, series) in enumerate(sorted(splits.items())):
        colour = f"C{index % 10}"  # one per split: raw and smoothed training share theirs
        marker = "o" if len(series.steps) <= 30 else None
        if split == "train" and len(series.values) > 20:
            smoothed = True
            axes.plot(series.steps, series.values, alpha=0.3, color=colour, label="train (raw)")
            axes.plot(series.steps, _smooth(series.values), color=colour, label="train (smoothed)")
        else:
            style = {"marker": marker, "markersize": 3}
            axes.plot(series.steps, series.values, color=colour, label=split, **style)
    axes.set_xlabel("global step")
    axes.set_ylabel(name)
    axes.grid(alpha=0.3)
    axes.legend(fontsize="small")
    caption = f"One line per split ({', '.join(sorted(splits))}), over optimizer steps"
    if smoothed:
        caption += f"; training values raw (faint) and smoothed (EMA {_SMOOTHING})"
    return _finish(plt, figure, stem or _stem(name), title or _title(name), caption + ".")


def _compare(plt: Any, name: str, split: str, lines: list[Line]) -> Figure:
    figure, axes = plt.subplots(figsize=(7, 3.6), dpi=100)
    smoothed = False
    for line in lines:
        steps, values = line.series.steps, line.series.values
        if split == "train" and len(values) > 20:
            smoothed = True
            axes.plot(steps, values, alpha=0.25, color=line.colour)
            axes.plot(steps, _smooth(values), color=line.colour, label=line.label)
        else:
            marker = "o" if len(steps) <= 30 else None
            style = {"marker": marker, "markersize": 3}
            axes.plot(steps, values, color=line.colour, label=line.label, **style)
    axes.set_xlabel("global step")
    axes.set_ylabel(name if not split else f"{name} ({split})")
    axes.grid(alpha=0.3)
    axes.legend(fontsize="small")
    caption = "One line per run, in the run's colour, over optimizer steps"
    if smoothed:
        caption += f"; raw values faint, smoothed (EMA {_SMOOTHING}) solid"
    title = f"{_title(name)}, {split}" if split else _title(name)
    stem = f"compare-{_stem(name)}" + (f"-{_stem(split)}" if split else "")
    return _finish(plt, figure, stem, title, caption + ".")


def _heatmap(plt: Any, stat: str, layers: dict[str, Series], modules: Mapping[str, str]) -> Figure:
    steps = sorted({step for series in layers.values() for step in series.steps})
    column = {step: index for index, step in enumerate(steps)}
    names = list(layers)
    grid = [[math.nan] * len(steps) for _ in names]
    for row, layer in enumerate(names):
        for step, value in zip(layers[layer].steps, layers[layer].values, strict=True):
            grid[row][column[step]] = math.log10(value) if value > 0 else math.nan
    height = min(1.2 + 0.22 * len(names), 60)  # a readable row per module, up to ~270
    figure, axes = plt.subplots(figsize=(8, height), dpi=100)
    image = axes.imshow(grid, aspect="auto", interpolation="nearest", cmap="viridis")
    axes.set_yticks(range(len(names)), labels=heatmap_rows(names, modules), fontsize="small")
    ticks = sorted({0, len(steps) - 1, *range(0, len(steps), max(1, len(steps) // 8))})
    axes.set_xticks(ticks, labels=[str(steps[t]) for t in ticks])
    axes.set_xlabel("global step")
    axes.set_ylabel("module")
    figure.colorbar(image, ax=axes, label=f"log10 {stat}")
    title = _heatmap_title(stat)
    rows = heatmap_rows(names, modules)
    caption = (
        "One row per module, one column per logged step; colour is log10 of the value "
        "(blank: not logged or not positive)."
    )
    if "ratio" in stat and "update" in stat:
        caption += " About -3 is the usual healthy update ratio."
    shown = ", ".join(rows[:_ROWS_NAMED]) + (
        f" and {len(rows) - _ROWS_NAMED} more" if len(rows) > _ROWS_NAMED else ""
    )
    caption += f" Rows, top to bottom: {shown}."
    return _finish(plt, figure, f"heatmap-{_stem(stat)}", title, caption)


def _heatmap_title(stat: str) -> str:
    """A readable title; the bus's topics (``weight_gradients_norm2``,
    ``weight_updates_weights_ratio``) are recognised as well as the short names."""
    if stat in _STAT_TITLES:
        return _STAT_TITLES[stat]
    if "ratio" in stat and "update" in stat:
        return f"{_STAT_TITLES['update_ratio']}: {stat}"
    if "norm" in stat and "grad" in stat:
        return f"{_STAT_TITLES['grad_norm']}: {stat}"
    return f"{stat} per layer"


def _title(name: str) -> str:
    return name


def _finish(plt: Any, figure: Any, stem: str, title: str, caption: str) -> Figure:
    buffer = io.BytesIO()
    # tight: the saved canvas is the box of everything drawn (labels included) plus a margin
    figure.savefig(buffer, format="png", bbox_inches="tight", pad_inches=0.15)
    plt.close(figure)
    return Figure(stem, title, caption, buffer.getvalue())


def _smooth(values: list[float], weight: float = _SMOOTHING) -> list[float]:
    """TensorBoard-style exponential moving average, debiased at the start."""
    smoothed, last = [], 0.0
    for count, value in enumerate(values, start=1):
        last = weight * last + (1 - weight) * value
        smoothed.append(last / (1 - weight**count))
    return smoothed


def _stem(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "-" for c in name).strip("-") or "plot"
