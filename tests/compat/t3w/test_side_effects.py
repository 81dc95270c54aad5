"""t3w's shipped side effects: progress, best-K saving, warm-up."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
import torch
from rich.console import Console

from tests.compat.t3w._tiny import Accuracy, CrossEntropy, PointSet, make_module
from unitrain.compat import t3w


def _loops(side_effects: list[Any], epochs: int = 3, lr: float = 0.1) -> tuple[Any, Any]:
    module = make_module(lr=lr)
    evaluation = t3w.EvalLoop(
        PointSet(split="val", size=6, seed=1),
        metrics={"acc": t3w.AverageMetric(Accuracy())},
        side_effects=side_effects,
    )
    loop = t3w.TrainLoop(
        PointSet(size=8),
        module,
        losses={"ce": CrossEntropy()},
        epochs=epochs,
        eval_loop=evaluation,
        side_effects=side_effects,
    )
    return loop, evaluation


def test_progress_side_effect_writes_each_evaluation_and_closes() -> None:
    stream = io.StringIO()
    bars = t3w.TqdmSideEffect(postfix_keys=["ce"], console=Console(file=stream, width=100))
    loop, _ = _loops([bars], epochs=2)
    loop()
    assert [line.split(",")[0] for line in bars.lines] == ["{'epoch': 1", "{'epoch': 2"]
    assert "'acc':" in stream.getvalue()
    assert bars._progress is None  # on_train_finished really fired and stopped the bars


def test_postfix_shows_reweighted_losses_and_metrics() -> None:
    from unitrain.compat.t3w.plugins.tqdm import _postfix

    step: Any = {
        "losses": {"ce": (0.5, torch.tensor(1.23456))},
        "metrics": {"acc": torch.tensor(0.5)},
    }
    assert _postfix(step, []) == "ce=0.5*1.2346 acc=0.5000"
    assert _postfix(step, ["acc", "missing"]) == "acc=0.5000"


class _Scripted(t3w.ISideEffect):
    """Forces the eval metric to a scripted sequence before SaveBest reads it."""

    def __init__(self, values: list[float]) -> None:
        self.values = values

    def on_eval_finished(self, loop: Any) -> None:
        value = self.values.pop(0)
        loop.metrics["acc"].eval = lambda: value


@pytest.mark.parametrize(("higher", "kept"), [(True, [0.9, 0.7]), (False, [0.2, 0.5])])
def test_best_models_keeps_the_k_best_by_the_metric_direction(
    tmp_path: Path, higher: bool, kept: list[float]
) -> None:
    saver = t3w.SaveBestModelsSideEffect(
        "acc", num_max_keep=2, save_path_prefix=str(tmp_path / "m")
    )
    loop, evaluation = _loops([_Scripted([0.5, 0.9, 0.2, 0.7]), saver], epochs=4)
    evaluation.metrics["acc"].higher_better = higher
    loop()
    names = sorted(p.name for p in tmp_path.iterdir())
    assert sorted(item["metric_value"] for item in saver.history) == sorted(kept)
    assert len(names) == 2 and all(n.startswith("m-ep") and n.endswith(".pt.gz") for n in names)
    assert {float(n.split("acc=")[1].removesuffix(".pt.gz")) for n in names} == set(kept)
    restored = make_module()
    restored.load(tmp_path / names[0])  # a loadable checkpoint, with its progress
    assert restored.training_progress.epoch == int(names[0].split("-ep")[1].split("-")[0])


def test_best_models_refuses_to_overwrite_existing_checkpoints(tmp_path: Path) -> None:
    (tmp_path / "m-ep1-step2-acc=0.50000.pt.gz").write_bytes(b"old")
    saver = t3w.SaveBestModelsSideEffect("acc", 2, str(tmp_path / "m"))
    loop, _ = _loops([saver])
    with pytest.raises(FileExistsError, match="already exist"):
        loop()


def test_best_models_needs_the_metric_in_the_eval_loop(tmp_path: Path) -> None:
    saver = t3w.SaveBestModelsSideEffect("f1", 2, str(tmp_path / "m"))
    loop, _ = _loops([saver])
    with pytest.raises(ValueError, match="'f1'"):
        loop()


def test_warm_up_ramps_the_learning_rate_by_optimizer_steps() -> None:
    rates: list[float] = []

    class Rates(t3w.ISideEffect):
        def on_train_step_finished(self, loop: Any, step: int, mb: Any, step_return: Any) -> None:
            rates.append(loop.model.optim.param_groups[0]["lr"])

    module = make_module(lr=0.4)
    t3w.TrainLoop(
        PointSet(size=16),
        module,
        losses={"ce": CrossEntropy()},
        epochs=2,
        side_effects=[t3w.WarmUpSideEffect(num_steps=4), Rates()],
    )()
    assert rates == pytest.approx([0.0, 0.1, 0.2, 0.3, 0.4, 0.4, 0.4, 0.4])
