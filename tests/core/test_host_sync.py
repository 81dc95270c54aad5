"""The per-step path never reads a tensor on the host unless a plugin asks for a value.

A host read (``.item()``, ``bool(t)``, ``float(t)``, ``.tolist()``, ``.numpy()``, ``.cpu()``,
``torch.cuda.synchronize``) waits for the device on a GPU. On CPU nothing waits, but the
same calls are made, so counting them here catches a regression before it costs anything
on a GPU. Item-like reads are caught below Python by a ``TorchDispatchMode``
(``aten._local_scalar_dense``, which ``item`` / ``bool`` / ``float`` / ``int`` all reach);
the others by patching. Reads made by torch's own Python code (an optimizer's internals)
are not the engine's and are not counted.

"Per step" is measured as the difference between two fits with the same number of epochs
and evaluations and different numbers of steps: per-epoch reads (a log line at epoch end)
cancel, per-step reads do not.
"""

from __future__ import annotations

import io
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import torch
from rich.console import Console
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode

import unitrain as ut
from unitrain.plugins import (
    GradientClipping,
    LRScheduler,
    MetricsLog,
    MixedPrecision,
    ProgressBar,
)

_TORCH_DIR = os.path.dirname(torch.__file__)
_THIS_FILE = os.path.abspath(__file__)
_OPTIM_DIR = os.path.join(_TORCH_DIR, "optim")


class HostReads(TorchDispatchMode):  # type: ignore[no-untyped-call]
    """Records where each host read came from (the first frame outside torch and here)."""

    def __init__(self) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self.sites: list[str] = []

    def __torch_dispatch__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        if func is torch.ops.aten._local_scalar_dense.default:
            self.note("item")
        return func(*args, **(kwargs or {}))

    def note(self, kind: str) -> None:
        frame = sys._getframe(1)
        while frame is not None:
            filename = os.path.abspath(frame.f_code.co_filename)
            if filename.startswith(_OPTIM_DIR):
                return  # an optimizer's own bookkeeping, not the engine's
            counter = filename == _THIS_FILE and frame.f_code.co_name in _COUNTER_FUNCTIONS
            if not filename.startswith(_TORCH_DIR) and not counter:
                self.sites.append(f"{kind} at {filename}:{frame.f_lineno} ({frame.f_code.co_name})")
                return
            frame = frame.f_back  # type: ignore[assignment]


def _patched(reads: HostReads, name: str, original: Callable[..., Any]) -> Callable[..., Any]:
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        reads.note(name)
        return original(*args, **kwargs)

    return wrapper


_COUNTER_FUNCTIONS = {"note", "__torch_dispatch__", "wrapper"}


@contextmanager
def count_host_reads(monkeypatch: pytest.MonkeyPatch) -> Iterator[HostReads]:
    reads = HostReads()
    with monkeypatch.context() as patch:
        for name in ("tolist", "numpy", "cpu"):
            patch.setattr(torch.Tensor, name, _patched(reads, name, getattr(torch.Tensor, name)))
        patch.setattr(torch.cuda, "synchronize", _patched(reads, "sync", torch.cuda.synchronize))
        with reads:
            yield reads


def _batches(steps: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
    generator = torch.Generator().manual_seed(0)
    inputs = torch.randn(steps * 8, 8, generator=generator)
    return [
        (inputs[i : i + 8], (inputs[i : i + 8].sum(1) > 0).long()) for i in range(0, steps * 8, 8)
    ]


def _task(metrics: bool = True) -> ut.Task:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 2))
    return ut.Task(
        model,
        loss=nn.CrossEntropyLoss(),
        metrics={"accuracy": ut.accuracy} if metrics else None,
        optimizer=lambda params: torch.optim.SGD(params, lr=0.1, momentum=0.9),
    )


def _fit_reads(
    monkeypatch: pytest.MonkeyPatch,
    steps: int,
    plugins: Callable[[], list[object]] = list,
    eval_batches: int = 0,
) -> list[str]:
    trainer = ut.Trainer(_task(), plugins=plugins(), max_epochs=2, device="cpu")
    eval_data = _batches(eval_batches) if eval_batches else None
    with count_host_reads(monkeypatch) as reads:
        trainer.fit(_batches(steps), eval_data=eval_data)
    return reads.sites


def _per_step(monkeypatch: pytest.MonkeyPatch, plugins: Callable[[], list[object]]) -> list[str]:
    """Reads that appear only when there are more steps (same epochs and evaluations)."""
    few = _fit_reads(monkeypatch, 2, plugins)
    many = _fit_reads(monkeypatch, 5, plugins)
    extra = list(many)
    for site in few:
        if site in extra:
            extra.remove(site)
    return extra


def test_a_bare_fit_reads_nothing_on_the_host(monkeypatch: pytest.MonkeyPatch) -> None:
    assert _fit_reads(monkeypatch, 3) == []


def _builtins(tmp_path: Path) -> Callable[[], list[object]]:
    def make() -> list[object]:
        return [
            MixedPrecision("bf16"),
            GradientClipping(max_norm=1.0, max_value=5.0),
            LRScheduler(lambda opt: torch.optim.lr_scheduler.StepLR(opt, 1), interval="step"),
            MetricsLog(tmp_path / "metrics.jsonl", every_n_steps=None),
            ProgressBar(plain=True, plain_every_seconds=3600, console=Console(file=io.StringIO())),
        ]

    return make


def test_builtin_plugins_add_no_per_step_host_read(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    assert _per_step(monkeypatch, _builtins(tmp_path)) == []


def test_evaluation_reads_the_host_once_per_pass_not_per_batch(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    short = _fit_reads(monkeypatch, 2, eval_batches=2)
    long = _fit_reads(monkeypatch, 2, eval_batches=6)
    assert len(short) == len(long) > 0


def test_the_counter_sees_a_plugin_that_reads_every_step(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    class Printer:
        def on_train_step_end(self, state: ut.State, result: ut.StepResult) -> None:
            assert result.loss is not None
            if result.loss.item() < 0 or bool(result.loss > 1e9):
                raise AssertionError("unreachable: a cross-entropy loss is finite and >= 0")

    extra = _per_step(monkeypatch, lambda: [Printer()])
    assert len(extra) == 2 * 3 * 2  # 3 more steps in each of 2 epochs, two reads per step
    assert all(_THIS_FILE in site and "on_train_step_end" in site for site in extra), extra
