"""LearningRateMonitor: per-step and per-epoch records, momentum, the run's metrics."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

import unitrain as ut
from tests.conftest import make_batches, make_task
from unitrain.errors import ConfigError
from unitrain.plugins.lr_monitor import LearningRateMonitor
from unitrain.plugins.run_store import RunStore
from unitrain.report import read_metrics


def _task() -> ut.Task:
    return make_task(
        optimizer=lambda params: torch.optim.SGD(params, lr=0.4, momentum=0.9),
        scheduler=lambda optimizer: torch.optim.lr_scheduler.StepLR(optimizer, 1, gamma=0.5),
    )


def test_per_step_records_follow_the_schedule() -> None:
    monitor = LearningRateMonitor(every_n_steps=2, log_momentum=True)
    ut.Trainer(_task(), plugins=[monitor], max_epochs=2, device="cpu").fit(make_batches(count=4))
    assert [(r["epoch"], r["step"], r["lr"]) for r in monitor.history] == [
        (0, 2, 0.4),
        (0, 4, 0.4),
        (1, 6, 0.2),
        (1, 8, 0.2),
    ]
    assert {r["momentum"] for r in monitor.history} == {0.9}


def test_per_epoch_records_into_the_run(tmp_path: Path) -> None:
    store = RunStore(tmp_path, log_every_n_steps=None)
    monitor = LearningRateMonitor("epoch")
    ut.Trainer(_task(), plugins=[store, monitor], max_epochs=3, device="cpu").fit(
        make_batches(count=2)
    )
    assert [r["lr"] for r in monitor.history] == [0.4, 0.2, 0.1]
    rates = read_metrics(store.run.metrics_jsonl).learning_rates
    assert list(rates) == ["lr"]


@pytest.mark.parametrize(
    ("options", "match"),
    [({"logging_interval": "batch"}, "expected 'step' or 'epoch'"), ({"every_n_steps": 0}, ">= 1")],
)
def test_bad_options_are_refused(options: dict[str, object], match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        LearningRateMonitor(**options)  # type: ignore[arg-type]
