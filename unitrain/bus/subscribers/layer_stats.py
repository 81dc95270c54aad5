"""``LayerStats``: statistics of every layer every step, batched, read every N steps.

``attach(trainer, LayerStats(every=10))`` computes, at the end of every training step, the
2-norm of every tapped layer's weights, weight gradients, weight updates and activations
(``stats=`` chooses kinds and statistics: ``mean``, ``std`` ...). Per step and kind it
makes **one** batched call per statistic over all layers (``torch._foreach_norm`` and
friends, see :mod:`unitrain.bus.subscribers.batched`) and writes the step's values into one
row of a ring buffer on the device with **one** ``torch.stack``; nothing is read to the host
until ``every`` steps have passed (or the fit ends, or :meth:`LayerStats.flush` is called),
when the buffered rows are read in **one** transfer. So a CUDA step never waits for the
statistics.

The values equal the per-tensor computation (``t.norm(2)``, ``t.mean()``, ...; bit for bit
on CPU, tested) and the same topic names as the per-module subscribers
(``weight_gradients_norm2`` ...). They are read as :meth:`~LayerStats.series` (the shape of
:meth:`BusLog.series <unitrain.bus.BusLog.series>`), :attr:`~LayerStats.rows`, and written,
when ``path=`` / ``writer=`` are given, as the records :class:`~unitrain.bus.BusLog` writes
(``name = "<topic>/<module>"``), which the HTML report draws as per-layer heatmaps.

The update of a step is its parameter after minus before the optimizer step: the taps keep
one copy of each tapped weight for that (memory: the size of those weights, once). A kind
absent from a step (no update in a micro-step of gradient accumulation) leaves no value
for that step. ``LayerStats`` publishes no per-step topic on the bus (use
:class:`~unitrain.bus.NormSubscriber` and friends for topics other subscribers consume).
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Final

import torch

from unitrain.bus.kinds import MODULE_KIND_ORDER, MODULE_KINDS, MODULE_OUTPUT_KINDS
from unitrain.bus.log import LogRow
from unitrain.bus.messages import Message
from unitrain.bus.subscriber import Subscriber
from unitrain.bus.subscribers.batched import BatchedStatistic, batched_statistic
from unitrain.errors import ConfigError

if TYPE_CHECKING:
    from unitrain.core.state import State

__all__ = ["DEFAULT_LAYER_STATS", "LayerStats"]

DEFAULT_LAYER_STATS: Final[Mapping[str, tuple[str, ...]]] = {
    "activations": ("norm2",),
    "weight_gradients": ("norm2",),
    "weights": ("norm2",),
    "weight_updates": ("norm2",),
}
"""What ``LayerStats()`` computes: ``{kind: statistics}``."""

_CHUNK: Final = 256  # ring rows allocated at a time when ``every`` is larger


@dataclass(slots=True)
class _Block:
    """Host-side values of consecutive flushed steps that share one column layout."""

    columns: list[tuple[str, str | None, str]]  # (topic, module, kind)
    steps: list[int] = field(default_factory=list)
    epochs: list[int] = field(default_factory=list)
    present: list[frozenset[str]] = field(default_factory=list)
    values: list[list[float]] = field(default_factory=list)


class LayerStats(Subscriber):
    """All-layer statistics every step at near-zero cost (see the module docstring).

    ``stats``: ``{kind: statistic or statistics}`` over the bus's module kinds (default
    :data:`DEFAULT_LAYER_STATS`); statistics are ``norm<p>``, ``mean``, ``sum``, ``max``,
    ``min``, ``std``, ``variance``. ``every``: read the device buffer to the host every N
    steps (one transfer). ``path``: a JSON-lines file (the records of
    :class:`~unitrain.bus.BusLog`); ``writer``: any object with ``add_scalar``.
    """

    order = 900  # reads the raw kinds only; before BusLog (1000) for the sake of reading order
    ranks = "main"

    def __init__(
        self,
        stats: Mapping[str, str | Iterable[str]] | None = None,
        *,
        every: int = 10,
        path: str | Path | None = None,
        writer: Any = None,
        tag: str = "default",
    ) -> None:
        if isinstance(every, bool) or not isinstance(every, int) or every < 1:
            raise ConfigError(f"LayerStats: every must be an int >= 1, got {every!r}")
        wanted = DEFAULT_LAYER_STATS if stats is None else stats
        if not isinstance(wanted, Mapping) or not wanted:
            raise ConfigError(
                f"LayerStats: stats must be a non-empty mapping {{kind: statistics}}, e.g. "
                f"{{'weights': 'norm2', 'activations': ('mean', 'std')}}; got {stats!r}"
            )
        plan: dict[str, tuple[tuple[str, BatchedStatistic], ...]] = {}
        for kind in sorted(wanted, key=_kind_rank):
            if kind not in MODULE_KINDS:
                raise ConfigError(
                    f"LayerStats: {kind!r} is not a module kind of the bus; use one of "
                    f"{list(MODULE_KIND_ORDER)}"
                )
            given = wanted[kind]
            names: tuple[str, ...] = (given,) if isinstance(given, str) else tuple(given)
            if not names:
                raise ConfigError(f"LayerStats: no statistic given for {kind!r}")
            where = f"LayerStats({kind!r})"
            plan[kind] = tuple((name, batched_statistic(name, where)) for name in names)
        super().__init__(tuple(plan), tag=tag)
        self.stats: dict[str, tuple[str, ...]] = {
            kind: tuple(name for name, _ in statistics) for kind, statistics in plan.items()
        }
        """What is computed: ``{kind: statistic names}``, kinds in the bus's order."""
        self.every = every
        self.path = None if path is None else Path(path)
        self.writer = writer
        self.blocks: list[_Block] = []
        self._plan = plan
        self._layout: dict[str, list[str | None]] | None = None
        self._columns: list[tuple[str, str | None, str]] = []
        self._widths: dict[str, int] = {}
        self._ring: torch.Tensor | None = None
        self._full: list[torch.Tensor] = []  # filled rings waiting for the next read
        self._filled = 0
        self._blank: torch.Tensor | None = None
        self._pending: list[tuple[int, int, frozenset[str]]] = []
        self._deliveries = 0
        self._file: IO[str] | None = None

    # ------------------------------------------------------------ lifecycle

    def on_fit_start(self, state: State) -> None:
        if self.path is not None and self._file is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._file = self.path.open("a", encoding="utf-8")

    def on_fit_end(self, state: State) -> None:
        self.close()

    def on_exception(self, state: State, error: BaseException) -> None:
        self.close()

    def close(self) -> None:
        """Read what is buffered, then close the file."""
        self.flush()
        if self._file is not None:
            self._file.close()
            self._file = None

    # ------------------------------------------------------------ the step (device only)

    def process_messages(self, items: list[Any]) -> None:
        groups: dict[str, list[Message]] = {}
        for message in items:
            groups.setdefault(message.kind, []).append(message)
        tensors = {kind: [_float(m.data, kind) for m in found] for kind, found in groups.items()}
        layout = self._layout
        if layout is None or any(
            layout.get(kind) != [m.module_name for m in found] for kind, found in groups.items()
        ):
            self._relayout(groups, tensors)
        values: list[torch.Tensor] = []
        for kind, statistics in self._plan.items():
            found = tensors.get(kind)
            if found is None:
                if kind in self._widths:  # absent this step: its columns hold a blank
                    assert self._blank is not None
                    values.extend([self._blank] * self._widths[kind])
                continue
            if kind in MODULE_OUTPUT_KINDS:
                distinct, where = _distinct(found)
                if where is not None:  # a view module (Flatten ...) repeats its input
                    for _, compute in statistics:
                        once = compute(distinct)
                        values.extend([once[i] for i in where])
                    continue
            for _, compute in statistics:
                values.extend(compute(found))
        ring = self._row_buffer()
        torch.stack(values, out=ring[self._filled])
        self._filled += 1
        first = items[0]
        self._pending.append((first.global_step, first.epoch, frozenset(groups)))
        self._deliveries += 1
        if self._deliveries % self.every == 0:
            self.flush()

    def _relayout(
        self, groups: dict[str, list[Message]], tensors: dict[str, list[torch.Tensor]]
    ) -> None:
        # A new set of layers (the first step, a kind that appeared, a branch not taken):
        # read what the old layout buffered, then size a ring for the new one.
        self.flush()
        layout: dict[str, list[str | None]] = {}
        if self._layout is not None:
            layout.update(self._layout)  # kinds absent this step keep their layers
        for kind, found in groups.items():
            layout[kind] = [m.module_name for m in found]
        columns: list[tuple[str, str | None, str]] = []
        self._widths = {}
        for kind, statistics in self._plan.items():
            if kind in layout:
                modules = layout[kind]
                self._widths[kind] = len(statistics) * len(modules)
                columns += [(f"{kind}_{name}", m, kind) for name, _ in statistics for m in modules]
        self._layout, self._columns = layout, columns
        every = [t for found in tensors.values() for t in found]
        # float64 data keeps float64 statistics; narrower floats widen exactly to float32
        dtype = torch.float64 if any(t.dtype == torch.float64 for t in every) else torch.float32
        device = every[0].device
        self._ring = torch.empty(min(self.every, _CHUNK), len(columns), dtype=dtype, device=device)
        self._blank = torch.full((), math.nan, dtype=dtype, device=device)
        self._filled = 0

    def _row_buffer(self) -> torch.Tensor:
        ring = self._ring
        assert ring is not None
        if self._filled == ring.shape[0]:  # full before a read is due: keep it, start another
            self._full.append(ring)
            ring = self._ring = torch.empty_like(ring)
            self._filled = 0
        return ring

    # ------------------------------------------------------------ the read (every N steps)

    def flush(self) -> None:
        """Read every buffered step to the host in one transfer, record and write it."""
        pending, self._pending = self._pending, []
        if not pending:
            return
        assert self._ring is not None
        parts = [*self._full, self._ring[: self._filled]]
        self._full, self._filled = [], 0
        values: list[list[float]] = (parts[0] if len(parts) == 1 else torch.cat(parts)).tolist()
        block = self.blocks[-1] if self.blocks else None
        if block is None or block.columns is not self._columns:
            block = _Block(self._columns)
            self.blocks.append(block)
        for (step, epoch, present), row in zip(pending, values, strict=True):
            block.steps.append(step)
            block.epochs.append(epoch)
            block.present.append(present)
            block.values.append(row)
        if self._file is not None or self.writer is not None:
            self._write(block, len(pending))

    def _write(self, block: _Block, count: int) -> None:
        first = len(block.steps) - count
        for index in range(first, len(block.steps)):
            step, epoch, present = block.steps[index], block.epochs[index], block.present[index]
            row = block.values[index]
            for (topic, module, kind), value in zip(block.columns, row, strict=True):
                if kind not in present:
                    continue
                name = topic if module is None else f"{topic}/{module}"
                if self._file is not None:
                    record = {"time": time.time(), "split": "bus", "name": name, "value": value}
                    record.update(epoch=epoch, step=step, topic=topic, module=module)
                    self._file.write(json.dumps(record) + "\n")
                if self.writer is not None:
                    self.writer.add_scalar(name, value, step)
        if self._file is not None:
            self._file.flush()

    # ------------------------------------------------------------ reading back

    @property
    def topics(self) -> list[str]:
        """Every topic read so far, in column order."""
        seen: dict[str, None] = {}
        for block in self.blocks:
            seen.update(dict.fromkeys(topic for topic, _, _ in block.columns))
        return list(seen)

    def series(self, topic: str) -> dict[str | None, tuple[list[int], list[float]]]:
        """``{module: (steps, values)}`` of one topic, from the steps read so far."""
        result: dict[str | None, tuple[list[int], list[float]]] = {}
        for block in self.blocks:
            for column, (name, module, kind) in enumerate(block.columns):
                if name != topic:
                    continue
                module_name = None if module is None else str(module)
                steps, values = result.setdefault(module_name, ([], []))
                for step, present, row in zip(
                    block.steps, block.present, block.values, strict=True
                ):
                    if kind in present:
                        steps.append(step)
                        values.append(row[column])
        return result

    @property
    def rows(self) -> list[LogRow]:
        """Every value read so far as :class:`~unitrain.bus.LogRow` (step, then column order)."""
        rows: list[LogRow] = []
        for block in self.blocks:
            for step, epoch, present, values in zip(
                block.steps, block.epochs, block.present, block.values, strict=True
            ):
                for (topic, module, kind), value in zip(block.columns, values, strict=True):
                    if kind in present:
                        name = None if module is None else str(module)
                        rows.append(LogRow(step, epoch, topic, name, value))
        return rows

    def __repr__(self) -> str:
        return f"LayerStats(stats={self.stats}, every={self.every})"


def _kind_rank(kind: str) -> int:
    return MODULE_KIND_ORDER.index(kind) if kind in MODULE_KIND_ORDER else len(MODULE_KIND_ORDER)


def _distinct(tensors: list[torch.Tensor]) -> tuple[list[torch.Tensor], list[int] | None]:
    """The tensors without repeats, and where each one's values come from (``None``: no
    repeat). A repeat is the same contiguous memory read as the same dtype, e.g. the output
    of ``nn.Flatten`` and its input: the very elements in the very order, so every
    statistic of it is the same, bit for bit, and is computed once."""
    seen: dict[tuple[int, torch.dtype, int], int] = {}
    where: list[int] = []
    distinct: list[torch.Tensor] = []
    for tensor in tensors:
        if tensor.is_contiguous():
            key = (tensor.data_ptr(), tensor.dtype, tensor.numel())
            index = seen.get(key)
            if index is None:
                index = seen[key] = len(distinct)
                distinct.append(tensor)
        else:
            index = len(distinct)
            distinct.append(tensor)
        where.append(index)
    return (tensors, None) if len(distinct) == len(tensors) else (distinct, where)


def _float(data: Any, kind: str) -> torch.Tensor:
    if not isinstance(data, torch.Tensor):
        raise ConfigError(f"LayerStats({kind!r}): expected tensor data, got {type(data).__name__}")
    return data if data.is_floating_point() else data.float()
