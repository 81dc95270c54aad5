"""t3w's Aim side effect tracks what t3w tracked; the Aim run is a recording stand-in here
(the ``aim`` package is an optional extra, not installed in the test environment)."""

from __future__ import annotations

import sys
import types
from typing import Any, ClassVar

import pytest

from tests.compat.t3w._tiny import Accuracy, CrossEntropy, PointSet, make_module
from unitrain.compat import t3w


class _Run(dict[str, Any]):
    """Records ``track`` calls like an Aim run stores them."""

    made: ClassVar[list[_Run]] = []

    def __init__(self, run_hash: str | None, repo: str, experiment: str) -> None:
        super().__init__()
        self.kwargs = {"run_hash": run_hash, "repo": repo, "experiment": experiment}
        self.tracked: list[tuple[str, float, int, int]] = []
        _Run.made.append(self)

    def track(self, value: Any, name: str, step: int, epoch: int = 0, **_: Any) -> None:
        self.tracked.append((name, float(value), step, epoch))


def test_aim_side_effect_tracks_losses_metrics_and_evaluations(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fake = types.ModuleType("aim")
    fake.Run = _Run  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "aim", fake)
    aim = t3w.AimSideEffect(experiment="points", hparams_dict={"lr": 0.1, "dims": (3, 2)})
    evaluation = t3w.EvalLoop(
        PointSet(split="val", size=5, seed=1),
        metrics={"acc": t3w.AverageMetric(Accuracy())},
        side_effects=[aim],
    )
    t3w.TrainLoop(
        PointSet(size=8),
        make_module(),
        losses={"ce": CrossEntropy()},
        metrics={"lr": t3w.LearningRate()},
        epochs=2,
        eval_loop=evaluation,
        side_effects=[aim],
    )()
    (run,) = _Run.made
    assert run.kwargs == {"run_hash": None, "repo": "./", "experiment": "points"}
    assert run["hparams"] == {"lr": 0.1, "dims": [3, 2]}
    names = [name for name, *_ in run.tracked]
    # per optimizer step (2 per epoch): raw and reweighted loss, each metric; then the eval
    step_names = ["train/loss/ce/raw", "train/loss/ce/reweighted", "train/metric/lr"]
    assert names == (step_names * 2 + ["eval/acc"]) * 2
    steps = [(step, epoch) for name, _, step, epoch in run.tracked if name == "train/loss/ce/raw"]
    assert steps == [(1, 0), (2, 0), (3, 1), (4, 1)]  # t3w's step after the optimizer step
    evals = [(value, step, epoch) for name, value, step, epoch in run.tracked if name == "eval/acc"]
    assert [(s, e) for _, s, e in evals] == [(2, 1), (4, 2)]
    assert evals[-1][0] == evaluation.metric_values["acc"]
    lrs = [value for name, value, *_ in run.tracked if name == "train/metric/lr"]
    assert lrs == pytest.approx([0.1] * 4)
