"""ModelSummary: parameters per module, first-batch shapes, the run-folder file."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import torch
from torch import nn

import unitrain as ut
from tests.conftest import FEATURES, make_batches, make_task
from unitrain.errors import ConfigError
from unitrain.plugins.model_summary import ModelSummary
from unitrain.plugins.run_store import RunStore


def _model() -> nn.Module:
    model = nn.Sequential(nn.Linear(FEATURES, 5), nn.ReLU(), nn.Linear(5, 2))
    model[0].weight.requires_grad_(False)  # a frozen weight: 15 of the 20 first-layer params
    model.register_buffer("scale", torch.ones(7))
    return model


def _fit(summary: ModelSummary, *plugins: object) -> ut.Trainer:
    trainer = ut.Trainer(
        make_task(_model()), plugins=[summary, *plugins], max_epochs=1, device="cpu"
    )
    trainer.fit(make_batches(count=3, size=4))
    return trainer


def test_rows_counts_and_first_batch_shapes(caplog: pytest.LogCaptureFixture) -> None:
    summary = ModelSummary()
    with caplog.at_level(logging.INFO, logger="unitrain"):
        _fit(summary)
    assert [(r.name, r.kind, r.parameters, r.trainable) for r in summary.rows] == [
        ("0", "Linear", 20, 5),
        ("1", "ReLU", 0, 0),
        ("2", "Linear", 12, 12),
    ]
    assert summary.rows[0].input_shapes == [[4, FEATURES]]
    assert summary.rows[2].output_shapes == [[4, 2]]
    assert (summary.total, summary.trainable) == (32, 17)
    assert summary.size_bytes == (32 + 7) * 4
    assert "32 parameters (17 trainable, 15 frozen)" in summary.table()
    assert sum("model summary" in r.getMessage() for r in caplog.records) == 1  # once a fit


def test_depth_zero_is_the_whole_model_and_hooks_are_removed() -> None:
    summary = ModelSummary(max_depth=0)
    trainer = _fit(summary)
    (row,) = summary.rows
    assert (row.name, row.parameters, row.output_shapes) == ("", 32, [[4, 2]])
    model = trainer.task.model
    assert all(not m._forward_hooks for m in model.modules())


def test_written_into_the_run_folder(tmp_path: Path) -> None:
    _fit(ModelSummary(), RunStore(tmp_path))
    (run,) = (tmp_path / "default").iterdir()
    text = (run / "model_summary.txt").read_text()
    assert text.splitlines()[0].split() == ["name", "type", "params", "trainable", "in", "out"]
    assert "[4, 3]" in text


def test_bad_depth_is_refused() -> None:
    with pytest.raises(ConfigError, match="max_depth=-1"):
        ModelSummary(max_depth=-1)
