"""The report's figures, drawn with matplotlib (the ``report`` extra) into PNG bytes."""

from __future__ import annotations

import io
import math
from dataclasses import dataclass
from typing import Any

from unitrain.errors import UnitrainError
from unitrain.report.records import Metrics, Series, is_learning_rate

__all__ = ["Figure", "draw_all"]

_STAT_TITLES = {
    "grad_norm": "gradient norm per layer (log10)",
    "update_ratio": "update:weight ratio ‖Δw‖/‖w‖ per layer (log10; about -3 is typical)",
}


@dataclass(frozen=True, slots=True)
class Figure:
    """One drawn figure: a file-name stem, a title and its PNG bytes."""

    stem: str
    title: str
    png: bytes


def draw_all(metrics: Metrics) -> list[Figure]:
    """Loss, each metric per split, the learning rate, and one heatmap per layer stat."""
    plt = _pyplot()
    figures: list[Figure] = []
    names = sorted(n for n in metrics.series if not is_learning_rate(n))
    names.sort(key=lambda n: n != "loss")  # loss first
    for name in names:
        figures.append(_curves(plt, name, metrics.series[name]))
    if metrics.learning_rates:
        figures.append(_curves(plt, "learning rate", metrics.learning_rates, stem="lr"))
    for stat in sorted(metrics.layers):
        figures.append(_heatmap(plt, stat, metrics.layers[stat]))
    return figures


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


def _curves(plt: Any, name: str, splits: dict[str, Series], stem: str | None = None) -> Figure:
    figure, axes = plt.subplots(figsize=(7, 3.6), dpi=100)
    for split, series in sorted(splits.items()):
        marker = "o" if len(series.steps) <= 30 else None
        if split == "train" and len(series.values) > 20:
            axes.plot(series.steps, series.values, alpha=0.3, color="C0", label="train (raw)")
            axes.plot(series.steps, _smooth(series.values), color="C0", label="train (smoothed)")
        else:
            axes.plot(series.steps, series.values, marker=marker, markersize=3, label=split)
    axes.set_xlabel("global step")
    axes.set_ylabel(name)
    axes.set_title(name)
    axes.grid(alpha=0.3)
    axes.legend(fontsize="small")
    return _finish(plt, figure, stem or _stem(name), name)


def _heatmap(plt: Any, stat: str, layers: dict[str, Series]) -> Figure:
    steps = sorted({step for series in layers.values() for step in series.steps})
    column = {step: index for index, step in enumerate(steps)}
    names = list(layers)
    grid = [[math.nan] * len(steps) for _ in names]
    for row, layer in enumerate(names):
        for step, value in zip(layers[layer].steps, layers[layer].values, strict=True):
            grid[row][column[step]] = math.log10(value) if value > 0 else math.nan
    height = min(1.2 + 0.28 * len(names), 12)
    figure, axes = plt.subplots(figsize=(8, height), dpi=100)
    image = axes.imshow(grid, aspect="auto", interpolation="nearest", cmap="viridis")
    axes.set_yticks(range(len(names)), labels=names, fontsize="small")
    ticks = sorted({0, len(steps) - 1, *range(0, len(steps), max(1, len(steps) // 8))})
    axes.set_xticks(ticks, labels=[str(steps[t]) for t in ticks])
    axes.set_xlabel("global step")
    title = _heatmap_title(stat)
    axes.set_title(title)
    figure.colorbar(image, ax=axes, label=f"log10 {stat}")
    return _finish(plt, figure, f"heatmap-{_stem(stat)}", title)


def _heatmap_title(stat: str) -> str:
    """A readable title; the bus's topics (``weight_gradients_norm2``,
    ``weight_updates_weights_ratio``) are recognised as well as the short names."""
    if stat in _STAT_TITLES:
        return _STAT_TITLES[stat]
    if "ratio" in stat and "update" in stat:
        return f"{_STAT_TITLES['update_ratio']}: {stat}"
    if "norm" in stat and "grad" in stat:
        return f"{_STAT_TITLES['grad_norm']}: {stat}"
    return f"{stat} per layer (log10)"


def _finish(plt: Any, figure: Any, stem: str, title: str) -> Figure:
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    plt.close(figure)
    return Figure(stem, title, buffer.getvalue())


def _smooth(values: list[float], weight: float = 0.9) -> list[float]:
    """TensorBoard-style exponential moving average, debiased at the start."""
    smoothed, last = [], 0.0
    for count, value in enumerate(values, start=1):
        last = weight * last + (1 - weight) * value
        smoothed.append(last / (1 - weight**count))
    return smoothed


def _stem(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "-" for c in name).strip("-") or "plot"
