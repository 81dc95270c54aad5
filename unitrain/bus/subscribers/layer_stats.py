"""``LayerStats``: statistics of every layer every step, batched, read every N steps.

``attach(trainer, LayerStats(every=10))`` computes, every training step, the 2-norm of every
tapped layer's weights, weight gradients, weight updates and activations (``stats=``
chooses kinds and statistics: ``mean``, ``std`` ...). At the step's end it makes **one**
batched call per kind and statistic over all layers (``torch._foreach_norm`` and friends,
see :mod:`unitrain.bus.subscribers.batched`) and writes the step's values into one row of a
ring buffer on the device with **one** ``torch.stack``; nothing is read to the host until
``every`` steps have passed (or the fit ends, or :meth:`LayerStats.flush` is called), when
the buffered rows are read in **one** transfer. So a CUDA step never waits for statistics.

On the native bus no message is made for it: the taps hand each kind's tensors of the step
straight to ``LayerStats`` (:meth:`~unitrain.bus.Subscriber.step_reducers`), one call per
kind. Module outputs (``activations``, ``layer_gradients``) of a model on the CPU are reduced
*eagerly* instead (``eager=None``: decided by the model's device; see
:meth:`~unitrain.bus.Subscriber.output_reducers`): each output the moment its module
returns it (its gradient, the moment backward computes it), while it is still in the
cache, and the bus then keeps no reference to it until the step's end. On the CPU a
batched reduction is a loop over the same kernels anyway; what costs is reading every
output again after backward has pushed it out of the cache, and keeping it alive so the
allocator cannot reuse its memory (measured in ``docs/performance.md``). An output that is a
view of the output reduced just before it, unchanged since (``nn.Flatten`` after a ``ReLU``),
reuses its values instead of being read again.

The values equal the per-tensor computation (``t.norm(2)``, ``t.mean()``, ...; bit for bit
on CPU, tested) and use the topic names of the per-module subscribers
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

import math
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Final

import torch

from unitrain.bus.bundles import StepBundles
from unitrain.bus.kinds import MODULE_KIND_ORDER, MODULE_KINDS, MODULE_OUTPUT_KINDS
from unitrain.bus.log import LogRow
from unitrain.bus.messages import Message, ModuleKey
from unitrain.bus.subscriber import OutputReducer, StepReducer, Subscriber
from unitrain.bus.subscribers.batched import (
    BatchedStatistic,
    batched_statistic,
    distinct_tensors,
    same_elements,
    single_statistic,
)
from unitrain.bus.subscribers.layer_history import Column, LayerHistory
from unitrain.bus.subscription import Subscription
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
_NONE: Final = (None, None, -1)  # no output held (see LayerStats._reducer)

Plan = dict[str, tuple[tuple[str, BatchedStatistic], ...]]
Found = dict[str, tuple[list[Any], list[torch.Tensor]]]
"""A step's values by kind: ``(module names, values)``, values statistic by statistic, each
one module by module (the order of the kind's columns)."""


class LayerStats(Subscriber):
    """All-layer statistics every step at near-zero cost (see the module docstring).

    ``stats``: ``{kind: statistic or statistics}`` over the bus's module kinds (default
    :data:`DEFAULT_LAYER_STATS`); statistics are ``norm<p>``, ``mean``, ``sum``, ``max``,
    ``min``, ``std``, ``variance``. ``every``: read the device buffer to the host every N
    steps (one transfer). ``eager``: reduce module outputs as they are produced (``None``:
    when the model is on the CPU). ``path``: a JSON-lines file (the records of
    :class:`~unitrain.bus.BusLog`); ``writer``: any object with ``add_scalar``.
    """

    order = 900  # reads the raw kinds only; before BusLog (1000) for the sake of reading order
    ranks = "main"

    def __init__(
        self,
        stats: Mapping[str, str | Iterable[str]] | None = None,
        *,
        every: int = 10,
        eager: bool | None = None,
        path: str | Path | None = None,
        writer: Any = None,
        tag: str = "default",
    ) -> None:
        if isinstance(every, bool) or not isinstance(every, int) or every < 1:
            raise ConfigError(f"LayerStats: every must be an int >= 1, got {every!r}")
        plan = _make_plan(DEFAULT_LAYER_STATS if stats is None else stats)
        super().__init__(tuple(plan), tag=tag)
        self.stats: dict[str, tuple[str, ...]] = {
            kind: tuple(name for name, _ in statistics) for kind, statistics in plan.items()
        }
        """What is computed: ``{kind: statistic names}``, kinds in the bus's order."""
        self.every = every
        self.eager = eager
        self.path = None if path is None else Path(path)
        self.writer = writer
        self.history = LayerHistory()
        self._plan = plan
        self._tag = tag
        self._eager_kinds: frozenset[str] = frozenset()
        self._early: dict[str, dict[int, tuple[ModuleKey, list[torch.Tensor]]]] = {}
        self._last: dict[str, list[Any]] = {}  # per eager kind: see _reducer
        self._found: Found = {}  # this step's values of the kinds the taps handed over
        self._layout: dict[str, list[str | None]] | None = None
        self._columns: list[Column] = []
        self._widths: dict[str, int] = {}
        self._ring: torch.Tensor | None = None
        self._full: list[torch.Tensor] = []  # filled rings waiting for the next read
        self._filled = 0
        self._blank: torch.Tensor | None = None
        self._pending: list[tuple[int, int, frozenset[str]]] = []
        self._deliveries = 0
        self._done = False  # whether this step's delivery was recorded
        self._file: IO[str] | None = None

    # ------------------------------------------------------------ planning and lifecycle

    def output_reducers(self, model: torch.nn.Module) -> Mapping[str, OutputReducer]:
        eager = self.eager
        if eager is None:
            parameter = next(model.parameters(), None)
            eager = parameter is None or parameter.device.type == "cpu"
        kinds = [kind for kind in self._plan if eager and kind in MODULE_OUTPUT_KINDS]
        self._eager_kinds = frozenset(kinds)
        self._early = {kind: {} for kind in kinds}
        self._last = {}
        rest = tuple(kind for kind in self._plan if kind not in self._eager_kinds)
        # eager kinds need no message: without a subscription the taps keep no reference
        self._subscription_list = [Subscription(self, rest, self._tag)] if rest else []
        return {kind: self._reducer(kind) for kind in kinds}

    def step_reducers(self, model: torch.nn.Module) -> Mapping[str, StepReducer]:
        # every other kind is handed over whole at the step's end: no message is made, so
        # none is subscribed (a bus that never asks keeps the subscription and its messages)
        kinds = [kind for kind in self._plan if kind not in self._eager_kinds]
        self._subscription_list = []
        self._found = {}
        return {kind: self._step_reducer(kind) for kind in kinds}

    def _step_reducer(self, kind: str) -> StepReducer:
        statistics = self._plan[kind]
        found = self._found

        def reduce(keys: list[ModuleKey], tensors: list[torch.Tensor]) -> None:
            data = [t if t.is_floating_point() else _float(t, kind) for t in tensors]
            found[kind] = (keys, _compute(kind, statistics, data))

        return reduce

    def _reducer(self, kind: str) -> OutputReducer:
        statistics = [single_statistic(name) for name, _ in self._plan[kind]]
        only = statistics[0] if len(statistics) == 1 else None  # the usual case: no loop
        slots = self._early[kind]
        # the last output reduced, its values and its version: held until the next output of
        # this kind (or the step's end), so that a view of it (nn.Flatten's output) is not
        # reduced again; one tensor at a time, usually alive anyway as the next layer's input
        last = self._last[kind] = [None, None, -1]

        def reduce(index: int, key: ModuleKey, tensor: torch.Tensor) -> None:
            data = tensor if tensor.is_floating_point() else _float(tensor, kind)
            before = last[0]
            if before is not None and same_elements(data, before, last[2]):
                values = last[1]
            else:
                values = [only(data)] if only else [compute(data) for compute in statistics]
                last[:] = (data, values, data._version) if data.is_contiguous() else _NONE
            slots[index] = (key, values)

        return reduce

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
        for slots in self._early.values():
            slots.clear()
        for last in self._last.values():
            last[:] = _NONE
        self._found.clear()
        if self._file is not None:
            self._file.close()
            self._file = None

    # ------------------------------------------------------------ the step (device only)

    def receive_bundles(self, bundles: StepBundles) -> None:
        self._done = False
        super().receive_bundles(bundles)  # process_messages, when messages came
        if not self._done and (self._found or any(self._early.values())):
            self._record([], bundles.global_step, bundles.epoch)

    def process_messages(self, items: list[Any]) -> None:
        bundles = self.current_bundles
        step, epoch = (
            (items[0].global_step, items[0].epoch)
            if bundles is None
            else (bundles.global_step, bundles.epoch)
        )
        self._record(items, step, epoch)

    def _record(self, items: list[Message], step: int, epoch: int) -> None:
        self._done = True
        found = self._found  # the kinds the taps handed over; emptied once the row is written
        groups: dict[str, list[Message]] = {}
        for message in items:
            groups.setdefault(message.kind, []).append(message)
        for kind, messages in groups.items():
            tensors = [_float(m.data, kind) for m in messages]
            found[kind] = (
                [m.module_name for m in messages],
                _compute(kind, self._plan[kind], tensors),
            )
        for kind, slots in self._early.items():
            if slots:
                ordered = sorted(slots.items())  # module order, whatever the call order
                rows = [values for _, (_, values) in ordered]
                found[kind] = (
                    [key for _, (key, _) in ordered],
                    [row[column] for column in range(len(rows[0])) for row in rows],
                )
                slots.clear()
        for last in self._last.values():
            last[:] = _NONE  # the step's outputs go with the step
        layout = self._layout
        if layout is None or any(layout.get(kind) != names for kind, (names, _) in found.items()):
            self._relayout(
                {kind: list(names) for kind, (names, _) in found.items()},
                [value for _, values in found.values() for value in values],
            )
        values: list[torch.Tensor] = []
        for kind in self._plan:
            entry = found.get(kind)
            if entry is not None:
                values += entry[1]
            elif kind in self._widths:  # absent this step: its columns hold a blank
                assert self._blank is not None
                values += [self._blank] * self._widths[kind]
        ring = self._row_buffer()
        torch.stack(values, out=ring[self._filled])
        self._filled += 1
        self._pending.append((step, epoch, frozenset(found)))
        found.clear()
        self._deliveries += 1
        if self._deliveries % self.every == 0:
            self.flush()

    def _relayout(self, names: dict[str, list[str | None]], samples: list[torch.Tensor]) -> None:
        # A new set of layers (the first step, a kind that appeared, a branch not taken):
        # read what the old layout buffered, then size a ring for the new one.
        self.flush()
        layout: dict[str, list[str | None]] = {}
        if self._layout is not None:
            layout.update(self._layout)  # kinds absent this step keep their layers
        layout.update(names)
        columns: list[Column] = []
        self._widths = {}
        for kind, statistics in self._plan.items():
            if kind in layout:
                modules = layout[kind]
                self._widths[kind] = len(statistics) * len(modules)
                columns += [(f"{kind}_{name}", m, kind) for name, _ in statistics for m in modules]
        self._layout, self._columns = layout, columns
        # float64 data keeps float64 statistics; narrower floats widen exactly to float32
        dtype = torch.float64 if any(t.dtype == torch.float64 for t in samples) else torch.float32
        device = samples[0].device
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
        self.history.add(self._columns, pending, values, self._file, self.writer)

    # ------------------------------------------------------------ reading back

    @property
    def topics(self) -> list[str]:
        """Every topic read so far, in column order."""
        return self.history.topics

    def series(self, topic: str) -> dict[str | None, tuple[list[int], list[float]]]:
        """``{module: (steps, values)}`` of one topic, from the steps read so far."""
        return self.history.series(topic)

    @property
    def rows(self) -> list[LogRow]:
        """Every value read so far as :class:`~unitrain.bus.LogRow` (step, then column order)."""
        return self.history.rows

    def __repr__(self) -> str:
        return f"LayerStats(stats={self.stats}, every={self.every})"


def _make_plan(wanted: Any) -> Plan:
    if not isinstance(wanted, Mapping) or not wanted:
        raise ConfigError(
            f"LayerStats: stats must be a non-empty mapping {{kind: statistics}}, e.g. "
            f"{{'weights': 'norm2', 'activations': ('mean', 'std')}}; got {wanted!r}"
        )
    plan: Plan = {}
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
    return plan


def _compute(
    kind: str, statistics: tuple[tuple[str, BatchedStatistic], ...], tensors: list[torch.Tensor]
) -> list[torch.Tensor]:
    values: list[torch.Tensor] = []
    distinct, where = distinct_tensors(tensors) if kind in MODULE_OUTPUT_KINDS else (tensors, None)
    for _, compute in statistics:
        once = compute(distinct)
        values.extend(once if where is None else [once[i] for i in where])
    return values


def _kind_rank(kind: str) -> int:
    return MODULE_KIND_ORDER.index(kind) if kind in MODULE_KIND_ORDER else len(MODULE_KIND_ORDER)


def _float(data: Any, kind: str) -> torch.Tensor:
    if not isinstance(data, torch.Tensor):
        raise ConfigError(f"LayerStats({kind!r}): expected tensor data, got {type(data).__name__}")
    return data if data.is_floating_point() else data.float()
