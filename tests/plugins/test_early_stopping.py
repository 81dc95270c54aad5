"""EarlyStopping: the decision, a real fit it stops, and a resumed run that stops alike."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

import unitrain as ut
from tests.conftest import make_batches, make_task
from unitrain.errors import ConfigError
from unitrain.plugins.checkpoint import Checkpoint
from unitrain.plugins.early_stopping import EarlyStopping


class ScriptedLoss:
    """Replaces the val loss of the n-th evaluation with ``values[n]`` (runs before others)."""

    order = -100

    def __init__(self, values: list[float]) -> None:
        self.values, self.seen = values, 0

    def on_eval_end(self, state: Any, split: str, metrics: dict[str, float]) -> None:
        if split == "val":
            metrics["loss"] = self.values[min(self.seen, len(self.values) - 1)]
            self.seen += 1

    def state_dict(self) -> dict[str, Any]:
        return {"seen": self.seen}

    def load_state_dict(self, saved: dict[str, Any]) -> None:
        self.seen = saved["seen"]


def _fit(values: list[float], max_epochs: int, **options: Any) -> ut.Trainer:
    stopper = EarlyStopping(**options)
    trainer = ut.Trainer(
        make_task(), plugins=[ScriptedLoss(values), stopper], max_epochs=max_epochs, device="cpu"
    )
    trainer.fit(make_batches(count=4), eval_data={"val": make_batches(count=2, seed=1)})
    return trainer


def stopper_of(trainer: ut.Trainer) -> EarlyStopping:
    (found,) = [r.plugin for r in trainer.plugins if isinstance(r.plugin, EarlyStopping)]
    return found


def test_stops_after_patience_evaluations_without_improvement() -> None:
    values = [1.0, 0.8, 0.9, 0.85, 0.81, 0.7, 0.6]  # best 0.8 at eval 1; 3 evals without
    trainer = _fit(values, max_epochs=10, patience=3)
    assert trainer.state.epoch == 5  # epochs 0..4 ran (evaluations 0..4), then it stopped
    assert trainer.state.global_step == 5 * 4
    assert stopper_of(trainer).stopped_at == {"epoch": 4, "global_step": 20}
    assert "did not improve" in trainer.state.stop_reason
    assert "patience 3" in trainer.state.stop_reason


def test_an_improvement_resets_the_wait() -> None:
    values = [1.0, 1.1, 1.2, 0.5, 0.6, 0.7, 0.8]
    trainer = _fit(values, max_epochs=10, patience=3)
    assert trainer.state.epoch == 7


def test_min_delta_ignores_small_improvements() -> None:
    values = [1.0, 0.99, 0.98, 0.97]
    assert _fit(values, max_epochs=10, patience=2, min_delta=0.05).state.epoch == 3
    assert _fit(values, max_epochs=4, patience=2, min_delta=0.0).state.stop_reason == ""


def test_max_mode_and_stopping_threshold() -> None:
    values = [0.2, 0.5, 0.95, 0.1]
    trainer = _fit(values, max_epochs=10, mode="max", stopping_threshold=0.9)
    assert trainer.state.epoch == 3
    assert "stopping_threshold" in trainer.state.stop_reason


def test_divergence_threshold_and_non_finite_values() -> None:
    diverged = _fit([1.0, 50.0], max_epochs=10, divergence_threshold=10.0)
    assert diverged.state.epoch == 2 and "divergence" in diverged.state.stop_reason
    nan = _fit([1.0, math.nan], max_epochs=10)
    assert nan.state.epoch == 2 and "nan" in nan.state.stop_reason
    kept = _fit([1.0, math.nan, 0.5], max_epochs=3, check_finite=False, patience=5)
    assert kept.state.stop_reason == "" and kept.state.epoch == 3


def test_a_stand_alone_evaluation_does_not_count() -> None:
    stopper = EarlyStopping(patience=1)
    plugins = [ScriptedLoss([1.0, 2.0, 3.0]), stopper]
    trainer = ut.Trainer(make_task(), plugins=plugins, max_epochs=1, device="cpu")
    trainer.evaluate(make_batches(count=2), split="val")
    trainer.evaluate(make_batches(count=2), split="val")
    assert stopper.best is None and stopper.wait == 0


def test_a_missing_metric_names_the_ones_there() -> None:
    trainer = ut.Trainer(
        make_task(), plugins=[EarlyStopping(monitor="f1")], max_epochs=2, device="cpu"
    )
    with pytest.raises(ConfigError, match=r"has no metric 'f1'; it has: accuracy, loss"):
        trainer.fit(make_batches(count=2), eval_data={"val": make_batches(count=2)})


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"mode": "down"}, "expected 'min'"),
        ({"patience": 0}, "patience=0"),
        ({"min_delta": -1.0}, "min_delta=-1.0"),
    ],
)
def test_bad_settings_are_refused_at_construction(options: dict[str, Any], match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        EarlyStopping(**options)


def _reference_stop(values: list[float], patience: int, min_delta: float) -> int | None:
    """Index of the evaluation that stops a 'min' run: the first one that is the
    ``patience``-th in a row not improving on the running best by more than ``min_delta``."""
    best, since = values[0], 0
    for i, value in enumerate(values[1:], start=1):
        if value < best - min_delta:
            best, since = value, 0
        else:
            since += 1
            if since == patience:
                return i
    return None


@given(
    values=st.lists(st.floats(0.0, 10.0), min_size=1, max_size=30),
    patience=st.integers(1, 5),
    min_delta=st.sampled_from([0.0, 0.01, 0.5]),
)
def test_the_decision_matches_the_definition(
    values: list[float], patience: int, min_delta: float
) -> None:
    stopper = EarlyStopping(patience=patience, min_delta=min_delta)
    stops = [i for i, v in enumerate(values) if stopper.judge(v)]
    expected = _reference_stop(values, patience, min_delta)
    assert (stops[0] if stops else None) == expected


def test_a_resumed_run_stops_where_an_uninterrupted_one_does(tmp_path: Path) -> None:
    values = [1.0, 0.5, 0.6, 0.7, 0.4, 0.45, 0.5, 0.55, 0.6]  # stops at eval 7 (patience 3)
    data = make_batches(count=4)
    val = {"val": make_batches(count=2, seed=1)}

    def trainer(max_epochs: int, directory: Path) -> ut.Trainer:
        plugins = [ScriptedLoss(values), EarlyStopping(patience=3), Checkpoint(directory)]
        return ut.Trainer(make_task(), plugins=plugins, max_epochs=max_epochs, device="cpu")

    straight = trainer(20, tmp_path / "straight")
    straight.fit(data, eval_data=val)
    assert straight.state.epoch == 8

    first = trainer(6, tmp_path / "split")  # ends after eval 5, waiting 1
    first.fit(data, eval_data=val)
    assert first.state.stop_reason == ""
    resumed = trainer(20, tmp_path / "split")
    resumed.fit(data, eval_data=val, resume="latest")
    assert (resumed.state.epoch, resumed.state.global_step) == (8, straight.state.global_step)
    assert resumed.state.stop_reason == straight.state.stop_reason
    for a, b in zip(straight.task.model.parameters(), resumed.task.model.parameters(), strict=True):
        assert torch.equal(a, b)
