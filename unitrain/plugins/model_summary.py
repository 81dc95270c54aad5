"""``ModelSummary``: the model's modules, their parameters and the shapes of the first batch.

At the first training step it hooks every module up to ``max_depth`` (forward hooks, removed
right after that step's forward), so each row also holds the input and output shapes that
step saw. The table is logged at INFO once, kept in ``summary.rows`` and, when a run store
is present, written to ``model_summary.txt`` in the run folder. Counting parameters reads
shapes only; nothing is copied or synchronised.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import torch

from unitrain.errors import ConfigError
from unitrain.hooks.markers import hookimpl
from unitrain.log import get_logger
from unitrain.plugins.run_store import RUN_DIR

if TYPE_CHECKING:
    from collections.abc import Generator

    from unitrain.core.state import State

__all__ = ["ModelSummary", "ModuleRow"]

_log = get_logger("plugins.model_summary")


@dataclass(slots=True)
class ModuleRow:
    """One module of the summary."""

    name: str
    kind: str
    parameters: int
    trainable: int
    input_shapes: list[list[int]] = field(default_factory=list)
    output_shapes: list[list[int]] = field(default_factory=list)


class ModelSummary:
    """Parameters per module (trainable or not), first-batch shapes, size in memory."""

    name = "model_summary"
    ranks = "main"

    def __init__(self, max_depth: int = 1) -> None:
        if isinstance(max_depth, bool) or not isinstance(max_depth, int) or max_depth < 0:
            raise ConfigError(
                f"ModelSummary(max_depth={max_depth!r}): expected an int >= 0 (0: the whole "
                "model as one row, 1: its direct children, ...)"
            )
        self.max_depth = max_depth
        self.rows: list[ModuleRow] = []
        self.total = self.trainable = 0
        self.size_bytes = 0
        self._pending = False

    def on_fit_start(self, state: State) -> None:
        assert state.model is not None
        self.rows = [_row(name, module) for name, module in self._modules(state.model)]
        params = list(state.model.parameters())
        self.total = sum(p.numel() for p in params)
        self.trainable = sum(p.numel() for p in params if p.requires_grad)
        tensors = [*params, *state.model.buffers()]
        self.size_bytes = sum(t.numel() * t.element_size() for t in tensors)
        self._pending = True

    @hookimpl(wrapper=True)
    def run_forward(self, state: State, batch: Any) -> Generator[None, Any, Any]:
        if not self._pending:
            return (yield)
        self._pending = False
        assert state.model is not None
        by_name = dict(self._modules(state.model))
        handles = [by_name[row.name].register_forward_hook(_recorder(row)) for row in self.rows]
        try:
            return (yield)
        finally:
            for handle in handles:
                handle.remove()
            self._report(state)

    def table(self) -> str:
        """The summary as fixed-width text."""
        header = ("name", "type", "params", "trainable", "in", "out")
        lines = [
            (
                r.name or "(model)",
                r.kind,
                f"{r.parameters:,}",
                f"{r.trainable:,}",
                _shapes(r.input_shapes),
                _shapes(r.output_shapes),
            )
            for r in self.rows
        ]
        widths = [max(len(str(x)) for x in column) for column in zip(header, *lines, strict=True)]
        text = [
            "  ".join(str(x).ljust(w) for x, w in zip(line, widths, strict=True)).rstrip()
            for line in (header, *lines)
        ]
        text.append(
            f"{self.total:,} parameters ({self.trainable:,} trainable, "
            f"{self.total - self.trainable:,} frozen); {self.size_bytes / 2**20:.2f} MiB "
            "of parameters and buffers"
        )
        return "\n".join(text)

    def _modules(self, model: torch.nn.Module) -> list[tuple[str, torch.nn.Module]]:
        if self.max_depth == 0:
            return [("", model)]
        return [
            (name, module)
            for name, module in model.named_modules()
            if name and name.count(".") < self.max_depth
        ]

    def _report(self, state: State) -> None:
        text = self.table()
        _log.info("model summary\n%s", text)
        run = state.stash.get(RUN_DIR)
        if run is not None:
            (run.path / "model_summary.txt").write_text(text + "\n")


def _row(name: str, module: torch.nn.Module) -> ModuleRow:
    params = list(module.parameters())
    return ModuleRow(
        name=name,
        kind=type(module).__name__,
        parameters=sum(p.numel() for p in params),
        trainable=sum(p.numel() for p in params if p.requires_grad),
    )


def _recorder(row: ModuleRow) -> Any:
    def record(module: torch.nn.Module, inputs: Any, output: Any) -> None:
        row.input_shapes = _tensor_shapes(inputs)
        row.output_shapes = _tensor_shapes(output)

    return record


def _tensor_shapes(value: Any) -> list[list[int]]:
    if isinstance(value, torch.Tensor):
        return [list(value.shape)]
    if isinstance(value, (list, tuple)):
        return [shape for item in value for shape in _tensor_shapes(item)]
    if isinstance(value, dict):
        return [shape for item in value.values() for shape in _tensor_shapes(item)]
    return []


def _shapes(shapes: list[list[int]]) -> str:
    return ", ".join(str(s) for s in shapes) if shapes else "-"
