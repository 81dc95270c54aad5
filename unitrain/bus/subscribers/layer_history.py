"""The host side of :class:`~unitrain.bus.LayerStats`: values read from the device, by step.

Values arrive in blocks of steps read together; consecutive steps that share one column
layout (``(topic, module, kind)`` per column) are kept as one block of rows. A kind absent
from a step (no update in a micro-step of gradient accumulation) has a blank in its columns
and is skipped by every reader.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import IO, Any

from unitrain.bus.log import LogRow

__all__ = ["Column", "LayerHistory"]

Column = tuple[str, str | None, str]
"""``(topic, module, kind)`` of one column, e.g. ``("weights_norm2", "fc1", "weights")``."""


@dataclass(slots=True)
class _Block:
    columns: Sequence[Column]
    steps: list[int] = field(default_factory=list)
    epochs: list[int] = field(default_factory=list)
    present: list[frozenset[str]] = field(default_factory=list)
    values: list[list[float]] = field(default_factory=list)


class LayerHistory:
    """Every value read so far: ``series(topic)``, ``rows``, ``topics``."""

    def __init__(self) -> None:
        self.blocks: list[_Block] = []

    def add(
        self,
        columns: Sequence[Column],
        steps: Sequence[tuple[int, int, frozenset[str]]],
        values: list[list[float]],
        file: IO[str] | None = None,
        writer: Any = None,
    ) -> None:
        """Append the rows of ``steps`` (``(global_step, epoch, kinds present)`` each);
        write them as :class:`~unitrain.bus.BusLog` records to ``file`` / ``writer``."""
        block = self.blocks[-1] if self.blocks else None
        if block is None or block.columns is not columns:
            block = _Block(columns)
            self.blocks.append(block)
        for (step, epoch, present), row in zip(steps, values, strict=True):
            block.steps.append(step)
            block.epochs.append(epoch)
            block.present.append(present)
            block.values.append(row)
            if file is not None or writer is not None:
                _write(columns, step, epoch, present, row, file, writer)
        if file is not None:
            file.flush()

    @property
    def topics(self) -> list[str]:
        """Every topic read so far, in column order."""
        seen: dict[str, None] = {}
        for block in self.blocks:
            seen.update(dict.fromkeys(topic for topic, _, _ in block.columns))
        return list(seen)

    def series(self, topic: str) -> dict[str | None, tuple[list[int], list[float]]]:
        """``{module: (steps, values)}`` of one topic."""
        result: dict[str | None, tuple[list[int], list[float]]] = {}
        for block in self.blocks:
            for column, (name, module, kind) in enumerate(block.columns):
                if name != topic:
                    continue
                steps, values = result.setdefault(None if module is None else str(module), ([], []))
                for step, present, row in zip(
                    block.steps, block.present, block.values, strict=True
                ):
                    if kind in present:
                        steps.append(step)
                        values.append(row[column])
        return result

    @property
    def rows(self) -> list[LogRow]:
        """Every value as a :class:`~unitrain.bus.LogRow` (by step, then column)."""
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


def _write(
    columns: Sequence[Column],
    step: int,
    epoch: int,
    present: frozenset[str],
    row: list[float],
    file: IO[str] | None,
    writer: Any,
) -> None:
    for (topic, module, kind), value in zip(columns, row, strict=True):
        if kind not in present:
            continue
        name = topic if module is None else f"{topic}/{module}"
        if file is not None:
            record = {"time": time.time(), "split": "bus", "name": name, "value": value}
            record.update(epoch=epoch, step=step, topic=topic, module=module)
            file.write(json.dumps(record) + "\n")
        if writer is not None:
            writer.add_scalar(name, value, step)
