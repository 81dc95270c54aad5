"""Reading a run's ``metrics.jsonl`` into series for plotting.

Two record shapes are accepted, one JSON object per line:

- long (``unitrain.plugins.MetricsLog``): ``{"split", "name", "value", "epoch", "step"}``;
- wide (the run store's ``append_metrics``): ``{"split", "epoch", "step", <name>: <value>, ...}``.

Names of the form ``<stat>/<layer>`` (``grad_norm/fc1.weight``, ``update_ratio/fc1.weight``)
are per-layer statistics, drawn as heatmaps of layers × steps. ``lr`` and ``lr/<i>`` are
learning rates. ``module`` and ``module_class`` of a record (written by ``BusLog``) name
the class of a layer. A torn last line (a run killed mid-write) is skipped.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["Metrics", "Series", "read_metrics"]

_META = frozenset({"time", "step", "epoch", "split", "name", "value"})


@dataclass(slots=True)
class Series:
    """One value over steps, for one split (``epochs[i]`` is the epoch of ``steps[i]``)."""

    steps: list[int] = field(default_factory=list)
    values: list[float] = field(default_factory=list)
    epochs: list[int] = field(default_factory=list)


@dataclass(slots=True)
class Metrics:
    """Every series of a run: ``series[name][split]``; per-layer stats apart."""

    series: dict[str, dict[str, Series]] = field(default_factory=dict)
    layers: dict[str, dict[str, Series]] = field(default_factory=dict)
    modules: dict[str, str] = field(default_factory=dict)  # module -> class, from BusLog

    def add(self, split: str, name: str, step: int, value: float, epoch: int = 0) -> None:
        """Add one point, sorting per-layer statistics from plain values."""
        stat, slash, layer = name.partition("/")
        if slash and layer and not is_learning_rate(name):
            target = self.layers.setdefault(stat, {}).setdefault(layer, Series())
        else:
            target = self.series.setdefault(name, {}).setdefault(split, Series())
        target.steps.append(step)
        target.values.append(value)
        target.epochs.append(epoch)

    @property
    def learning_rates(self) -> dict[str, Series]:
        """``{name: series}`` of every learning-rate series, whatever its split."""
        return {
            f"{name} ({split})" if len(splits) > 1 else name: series
            for name, splits in self.series.items()
            if is_learning_rate(name)
            for split, series in splits.items()
        }

    def final(self) -> dict[str, dict[str, float]]:
        """The last value of every plain series, ``{split: {name: value}}``."""
        table: dict[str, dict[str, float]] = {}
        for name, splits in self.series.items():
            for split, series in splits.items():
                if series.values:
                    table.setdefault(split, {})[name] = series.values[-1]
        return table


def is_learning_rate(name: str) -> bool:
    """``lr``, ``lr/0``, ``lr-group1``, ``learning_rate``."""
    return name in ("lr", "learning_rate") or name.startswith(("lr/", "lr-", "lr_"))


def read_metrics(path: Path) -> Metrics:
    """Every complete record of ``path`` (missing file: no records)."""
    metrics = Metrics()
    if not path.is_file():
        return metrics
    # garbage bytes (a foreign edit, a damaged disk) become U+FFFD: that line is skipped as
    # not JSON, the others still count
    with path.open(encoding="utf-8", errors="replace") as lines:
        for record in _records(lines):
            split = str(record.get("split", "train"))
            step, epoch = _int(record.get("step")), _int(record.get("epoch"))
            module, kind = record.get("module"), record.get("module_class")
            if isinstance(module, str) and isinstance(kind, str):  # BusLog names the class
                metrics.modules[module] = kind
            if "name" in record and "value" in record:
                _add(metrics, split, str(record["name"]), step, epoch, record["value"])
                continue
            for key, value in record.items():
                if key not in _META:
                    _add(metrics, split, key, step, epoch, value)
    return metrics


def _records(lines: Iterable[str]) -> Iterable[dict[str, Any]]:
    for line in lines:
        line = line.strip()
        if not line:
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue  # a torn last line of a killed run
        if isinstance(record, dict):
            yield record


def _add(metrics: Metrics, split: str, name: str, step: int, epoch: int, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return
    metrics.add(split, name, step, float(value), epoch)


def _int(value: Any) -> int:
    return int(value) if isinstance(value, int | float) and not isinstance(value, bool) else 0
