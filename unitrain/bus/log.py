"""``BusLog``: records derived topics, reading them to the host only every N steps.

Values stay on the device as they arrive; every ``every`` deliveries (and at the end of
the fit) all pending scalars are stacked and read in **one** transfer, then appended to
:attr:`BusLog.rows`, to a JSON-lines file (``path=``) and to a TensorBoard-style writer
(``tensorboard=log_dir`` needs the ``tensorboard`` package; or pass ``writer=`` any object
with ``add_scalar`` / ``add_histogram_raw``).

The file uses the records of :class:`unitrain.plugins.metrics_log.MetricsLog`
(``time, split, name, value, epoch, step``; here ``split`` is ``"bus"``, ``name`` is
``topic/module`` and ``step`` counts training batches) plus ``topic`` and ``module``, so
``path=`` may be the metrics log's own file (both append and flush whole lines). A module's
record also has ``module_class`` (``"Linear"``): the report labels its heatmap rows with it.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import torch

from unitrain.bus.bundles import StepBundles
from unitrain.bus.messages import Message
from unitrain.bus.subscriber import Subscriber
from unitrain.errors import ConfigError

if TYPE_CHECKING:
    from unitrain.core.state import State

__all__ = ["BusLog", "LogRow"]


@dataclass(slots=True, frozen=True)
class LogRow:
    """One logged value: a topic of one module (``None`` for network topics) at one step."""

    global_step: int
    epoch: int
    topic: str
    module: str | None
    value: float


class BusLog(Subscriber):
    """Logs scalar topics (``topics=None``: every derived topic of the bus) every N steps."""

    order = 1000  # after other plugins, so it sees every derived topic of the step
    ranks = "main"  # one process writes (statistics of DDP gradients agree across ranks)

    def __init__(
        self,
        topics: Iterable[str] | None = None,
        *,
        every: int = 50,
        path: str | Path | None = None,
        tensorboard: str | Path | None = None,
        writer: Any = None,
    ) -> None:
        if isinstance(every, bool) or not isinstance(every, int) or every < 1:
            raise ConfigError(f"BusLog: every must be an int >= 1, got {every!r}")
        self.topics = None if topics is None else tuple(topics)
        super().__init__(self.topics or ())
        self.every = every
        self.path = None if path is None else Path(path)
        self.tensorboard = tensorboard
        self.writer = writer
        self.rows: list[LogRow] = []
        self.histograms: dict[tuple[str, str | None], tuple[list[float], list[float]]] = {}
        self._pending: list[Message] = []
        self._deliveries = 0
        self._file: IO[str] | None = None
        self._own_writer = False
        self._classes: dict[str, str] = {}

    # ------------------------------------------------------------ lifecycle

    def on_fit_start(self, state: State) -> None:
        if self.tensorboard is not None and self.writer is None:
            try:
                from torch.utils.tensorboard import SummaryWriter
            except ImportError:
                raise ConfigError(
                    f"BusLog(tensorboard={str(self.tensorboard)!r}) needs the tensorboard "
                    "package: pip install tensorboard (the unitrain[tensorboard] extra), or "
                    "pass writer= your own writer"
                ) from None
            self.writer, self._own_writer = SummaryWriter(str(self.tensorboard)), True
        if self.path is not None and self._file is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._file = self.path.open("a", encoding="utf-8")
        if state.model is not None:
            # each record names its module's class, so that a report labels the rows of its
            # heatmaps "0 (Linear)", not just "0"
            self._classes = {n: type(m).__name__ for n, m in state.model.named_modules() if n}

    def on_bus_bundles(self, state: State, bundles: StepBundles) -> None:
        if self.topics is None:
            for producer in dict.fromkeys(bundles._producers.values()):
                bundles.deliver(producer)  # type: ignore[arg-type]
            for kind in sorted(bundles.kinds()):
                if kind in bundles._producers:
                    self._pending.extend(bundles.messages(kind, tag=None))
        else:
            bundles.deliver(self)
        self._deliveries += 1
        if self._deliveries % self.every == 0:
            self.flush()

    def process_messages(self, items: list[Any]) -> None:
        self._pending.extend(items)

    def on_fit_end(self, state: State) -> None:
        self.close()

    def on_exception(self, state: State, error: BaseException) -> None:
        self.close()

    # ------------------------------------------------------------ host side

    def flush(self) -> None:
        """Read every pending value to the host (one transfer for all scalars) and write it."""
        pending, self._pending = self._pending, []
        scalars = [m for m in pending if isinstance(m.data, torch.Tensor) and m.data.numel() == 1]
        if scalars:
            stacked = torch.stack([m.data.detach().reshape(()).float() for m in scalars])
            for message, value in zip(scalars, stacked.tolist(), strict=True):
                self._write(message, value)
        for message in pending:
            if isinstance(message.data, tuple) and len(message.data) == 2:
                self._write_histogram(message)
        if self._file is not None:
            self._file.flush()

    def close(self) -> None:
        """Flush, then close the file and a writer this log opened."""
        self.flush()
        if self._file is not None:
            self._file.close()
            self._file = None
        if self._own_writer and self.writer is not None:
            self.writer.close()
            self.writer, self._own_writer = None, False

    def _write(self, message: Message, value: float) -> None:
        module = None if message.module_name is None else str(message.module_name)
        row = LogRow(message.global_step, message.epoch, message.kind, module, value)
        self.rows.append(row)
        name = message.kind if module is None else f"{message.kind}/{module}"
        if self._file is not None:
            record = {"time": time.time(), "split": "bus", "name": name, "value": value}
            record.update(epoch=row.epoch, step=row.global_step, topic=row.topic, module=module)
            if module is not None and module in self._classes:
                record["module_class"] = self._classes[module]
            self._file.write(json.dumps(record) + "\n")
        if self.writer is not None:
            self.writer.add_scalar(name, value, message.global_step)

    def _write_histogram(self, message: Message) -> None:
        counts, edges = (torch.as_tensor(x).detach().float().cpu() for x in message.data)
        module = None if message.module_name is None else str(message.module_name)
        self.histograms[(message.kind, module)] = (edges.tolist(), counts.tolist())
        if self.writer is not None and hasattr(self.writer, "add_histogram_raw"):
            centers = (edges[1:] + edges[:-1]) / 2
            tag = message.kind if module is None else f"{message.kind}/{module}"
            self.writer.add_histogram_raw(
                tag,
                min=float(edges[0]),
                max=float(edges[-1]),
                num=int(counts.sum()),
                sum=float((centers * counts).sum()),
                sum_squares=float((centers * centers * counts).sum()),
                bucket_limits=edges[1:].tolist(),
                bucket_counts=counts.tolist(),
                global_step=message.global_step,
            )

    # ------------------------------------------------------------ reading back

    def series(self, topic: str) -> dict[str | None, tuple[list[int], list[float]]]:
        """``{module: (steps, values)}`` of one topic, from the rows read so far."""
        result: dict[str | None, tuple[list[int], list[float]]] = {}
        for row in self.rows:
            if row.topic == topic:
                steps, values = result.setdefault(row.module, ([], []))
                steps.append(row.global_step)
                values.append(row.value)
        return result
