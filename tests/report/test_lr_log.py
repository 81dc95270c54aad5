"""LearningRateLog: one record per N optimizer steps with every param group's lr."""

from __future__ import annotations

import json

import pytest
import torch

import unitrain as ut
from unitrain.errors import ConfigError
from unitrain.plugins.run_store import RunStore
from unitrain.report import LearningRateLog, read_metrics
from unitrain.testing import tiny_batches, tiny_task


def two_groups(params):
    first, *rest = list(params)
    return torch.optim.SGD([{"params": [first]}, {"params": rest, "lr": 0.01}], lr=0.5)


def test_records_each_group_and_the_schedule(tmp_path):
    task = tiny_task()
    task.optimizer = two_groups
    task.scheduler = lambda optimizer: torch.optim.lr_scheduler.StepLR(optimizer, 1, gamma=0.5)
    store = RunStore(tmp_path, log_every_n_steps=None)
    plugins = [store, LearningRateLog(every_n_steps=2)]
    ut.Trainer(task, max_epochs=2, device="cpu", plugins=plugins).fit(tiny_batches())
    lines = store.run.metrics_jsonl.read_text().splitlines()
    records = [r for r in map(json.loads, lines) if "lr/0.0" in r]
    assert [r["step"] for r in records] == [2, 4, 6, 8]
    assert [r["lr/0.0"] for r in records] == [0.5, 0.5, 0.25, 0.25]  # halved after epoch 1
    assert [r["lr/0.1"] for r in records] == [0.01, 0.01, 0.005, 0.005]
    rates = read_metrics(store.run.metrics_jsonl).learning_rates
    assert set(rates) == {"lr/0.0", "lr/0.1"}


def test_without_a_run_store_it_does_nothing_and_checks_its_option():
    plugin = LearningRateLog(every_n_steps=1)
    ut.Trainer(tiny_task(), max_steps=2, device="cpu", plugins=[plugin]).fit(tiny_batches())
    with pytest.raises(ConfigError, match="every_n_steps=0"):
        LearningRateLog(every_n_steps=0)
