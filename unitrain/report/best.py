"""The best value of each evaluation metric of a run, and the epoch and step it came at.

A metric watched by a plugin (run.json's ``monitors``: the run store, best-K checkpoints,
early stopping) is judged in that plugin's direction. Every other evaluation metric gets a
direction guessed from its name (losses and errors: lower is better; anything else: higher)
and the table says it was guessed. Training values are left out: they are per-batch noise,
not what a run is chosen by.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from unitrain.report.records import Metrics, Series, is_learning_rate

__all__ = ["Best", "best_values", "guess_mode"]

Mode = Literal["min", "max"]
_LOWER_IS_BETTER = ("loss", "error", "err", "mse", "mae", "rmse", "perplexity", "nll", "wer")


@dataclass(frozen=True, slots=True)
class Best:
    """``metric`` (``split/name``) at its best: value, epoch, step; and its last value."""

    metric: str
    mode: Mode
    why: str  # "monitored by early_stopping" or "guessed from the name"
    value: float
    epoch: int
    step: int
    final: float


def best_values(metrics: Metrics, info: dict[str, Any]) -> list[Best]:
    """Monitored metrics first (in the plugins' order), then every other evaluation metric."""
    modes: dict[str, tuple[Mode, list[str]]] = {}
    for metric, mode, plugin in _monitors(info):
        known = modes.setdefault(metric, (mode, []))
        if known[0] == mode:
            known[1].append(plugin)
    table = []
    for metric, (mode, plugins) in modes.items():
        series = _series(metrics, metric)
        if series is not None:
            table.append(_best(metric, mode, f"monitored by {', '.join(plugins)}", series))
    for name, splits in sorted(metrics.series.items()):
        for split, series in sorted(splits.items()):
            metric = f"{split}/{name}"
            if split == "train" or is_learning_rate(name) or metric in modes:
                continue
            table.append(_best(metric, guess_mode(name), "guessed from the name", series))
    return table


def guess_mode(name: str) -> Mode:
    """``min`` for names that read like a loss or an error, else ``max``."""
    words = name.lower().replace("-", "_").replace("/", "_").split("_")
    return "min" if any(word in _LOWER_IS_BETTER for word in words) else "max"


def _monitors(info: dict[str, Any]) -> list[tuple[str, Mode, str]]:
    """``(metric, mode, plugin)`` from run.json: ``monitors``, else the older ``best`` field
    (the run store's one monitored metric)."""
    found: list[tuple[str, Mode, str]] = []
    listed = info.get("monitors")
    if isinstance(listed, list):
        for item in listed:
            if isinstance(item, dict) and item.get("mode") in ("min", "max"):
                found.append((str(item.get("metric")), item["mode"], str(item.get("plugin"))))
        return found
    best = info.get("best")
    if isinstance(best, dict) and best.get("mode") in ("min", "max") and best.get("name"):
        found.append((str(best["name"]), best["mode"], "run_store"))
    return found


def _series(metrics: Metrics, metric: str) -> Series | None:
    split, _, name = metric.partition("/")
    series = metrics.series.get(name, {}).get(split)
    return series if series is not None and series.values else None


def _best(metric: str, mode: Mode, why: str, series: Series) -> Best:
    values = series.values
    pick = min if mode == "min" else max
    index = values.index(pick(values))  # the first time it was reached
    epoch = series.epochs[index] if index < len(series.epochs) else 0
    return Best(metric, mode, why, values[index], epoch, series.steps[index], values[-1])
