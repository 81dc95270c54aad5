"""README "Coming from Lightning": every unitrain name the table gives exists and works."""

from __future__ import annotations

import inspect

import torch

import unitrain as ut
from tests.conftest import make_batches, make_task
from unitrain import plugins


def test_the_named_settings_are_trainer_arguments() -> None:
    accepted = set(inspect.signature(ut.Trainer).parameters)
    assert {
        "plugins", "accumulation", "eval_every_epochs", "eval_every_steps",
        "limit_train_batches", "limit_eval_batches", "fast_dev_run", "overfit_batches",
        "max_time", "deterministic", "devices", "strategy",
    } <= accepted  # fmt: skip
    assert "compile" in inspect.signature(ut.Task).parameters  # torch.compile(model)
    assert "gather" in inspect.signature(ut.Trainer.predict).parameters
    assert "resume" in inspect.signature(ut.Trainer.fit).parameters


def test_the_named_plugins_and_functions_exist() -> None:
    for name in (
        "Checkpoint", "EarlyStopping", "GradientClipping", "LearningRateMonitor",
        "MixedPrecision", "MlflowLog", "ModelSummary", "Profiler", "TensorBoardLog",
    ):  # fmt: skip
        assert inspect.isclass(getattr(plugins, name)), name
    plugins.GradientClipping(max_norm=1.0)
    plugins.MixedPrecision("bf16")
    assert callable(ut.lr_find) and callable(ut.seed_everything)


def test_the_mapped_fit_evaluate_and_predict_calls_run() -> None:
    trainer = ut.Trainer(
        make_task(),
        plugins=[plugins.EarlyStopping(patience=2), plugins.LearningRateMonitor()],
        max_epochs=2,
        limit_eval_batches=1,
        device="cpu",
    )
    trainer.fit(make_batches(), eval_data={"val": make_batches(seed=1)})
    assert set(trainer.evaluate(make_batches(), split="test")) == {"loss", "accuracy"}
    predictions = trainer.predict(make_batches(count=2), gather=True)
    assert len(predictions) == 2 and isinstance(predictions[0], torch.Tensor)


def test_the_several_optimizer_spellings_exist() -> None:
    task_arguments = inspect.signature(ut.Task).parameters
    assert {"optimizer", "optimizer_losses", "manual_optimization"} <= set(task_arguments)
    assert callable(ut.Task.compute_optimizer_step) and callable(ut.Task.manual_step)
    assert "optimizer_idx" in inspect.signature(ut.Task.compute_optimizer_step).parameters
    for name in ("optimizers", "backward", "step", "toggle", "zero_grad"):
        assert hasattr(ut.ManualOptimization, name), name
