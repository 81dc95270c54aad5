"""aitoolbox callbacks handed straight to a native ``unitrain.Trainer(plugins=[...])``.

Every shipped callback runs next to a native plugin, a t3w side effect and an ikkuna
subscriber, with the same ``train_loop_obj`` attributes it has in a ``TrainLoop``; the ones
that need what a native task does not make (predictions) are refused by name.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn

import unitrain as ut
from tests.compat.aitoolbox._tiny import FEATURES, make_batches
from unitrain.bus import attach
from unitrain.compat import aitoolbox as ait
from unitrain.compat import t3w
from unitrain.compat.aitoolbox.torchtrain.callbacks.ddp import DistributedSamplerSetEpoch
from unitrain.compat.ikkuna import CallbackSubscriber
from unitrain.errors import ConfigError

EXPERIMENT = {"project_name": "proj", "experiment_name": "exp"}


class NativeEpochs:
    """A native plugin: the epochs it saw end."""

    def __init__(self) -> None:
        self.epochs: list[int] = []

    def on_epoch_end(self, state: ut.State) -> None:
        self.epochs.append(state.epoch)


class T3wEpochs(t3w.ISideEffect):
    """A t3w side effect: the epochs it saw finish."""

    is_distributed = True

    def __init__(self) -> None:
        self.epochs: list[int] = []

    def on_train_epoch_finished(self, loop: Any, epoch: int) -> None:
        self.epochs.append(epoch)


def _native_run(callback: Any, epochs: int = 3, lr: float = 0.1, **trainer: Any) -> Any:
    """Fit a plain nn.Module with a native Task and ``callback`` among three other styles."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(FEATURES, 4), nn.Tanh(), nn.Linear(4, 2))
    task = ut.Task(
        model,
        loss=nn.CrossEntropyLoss(),
        optimizer=torch.optim.SGD(model.parameters(), lr=lr),
    )
    native, side = NativeEpochs(), T3wEpochs()
    trainer.setdefault("max_epochs", epochs)
    fit = ut.Trainer(task, plugins=[callback, native, side], device="cpu", **trainer)
    steps: list[int] = []
    attach(fit, CallbackSubscriber("batch_finished", lambda *a, **k: steps.append(1)))
    batches = make_batches()
    fit.fit(batches, {"train": batches, "val": make_batches(2, seed=1)})
    ran = fit.state.epoch
    assert native.epochs == side.epochs == list(range(ran))  # the others ran alongside
    assert len(steps) == ran * len(batches)
    return fit


def test_train_loop_obj_reads_the_native_trainer() -> None:
    seen: list[tuple[Any, ...]] = []

    def look(tl: Any) -> None:
        seen.append((tl.epoch, tl.total_iteration_idx, tl.train_history["val_loss"][-1]))

    probe = ait.FunctionOnTrainLoop(look, epoch_end=True)
    fit = _native_run(probe, epochs=2)
    view = probe.train_loop_obj
    assert [row[:2] for row in seen] == [(0, 3), (1, 7)]
    assert view.model is fit.state.model and view.optimizers() == list(fit.state.optimizers)
    assert view.epoch == 1 and len(view.train_history["loss"]) == 2  # "train" split evaluated
    assert seen[-1][2] == pytest.approx(fit.state.eval_metrics["val"]["loss"])


@pytest.mark.parametrize(
    "make",
    [
        lambda: ait.EarlyStopping(patience=0),
        lambda: ait.ThresholdEarlyStopping("val_loss", threshold=-1.0, patience=0),
        lambda: ait.TerminateOnNaN("accumulated_loss"),
    ],
    ids=["EarlyStopping", "ThresholdEarlyStopping", "TerminateOnNaN"],
)
def test_stopping_callbacks_stop_a_native_fit(make: Callable[[], Any]) -> None:
    callback = make()
    if isinstance(callback, ait.TerminateOnNaN):
        # a NaN loss: the learning rate makes the weights overflow
        fit = _native_run(callback, epochs=6, lr=1e38)
    else:
        fit = _native_run(callback, epochs=6, lr=0.0)  # nothing improves, nothing reaches -1
    assert fit.state.epoch < 6 and callback.train_loop_obj.early_stop


def test_gradient_callbacks_clip_on_a_native_trainer() -> None:
    seen: list[float] = []

    class Norm:
        def on_before_optimizer_step(
            self, state: ut.State, optimizer: Any, optimizer_idx: int
        ) -> None:
            params = [p for g in optimizer.param_groups for p in g["params"]]
            seen.append(
                float(torch.linalg.vector_norm(torch.stack([p.grad.norm() for p in params])))
            )

    clip = ait.GradNormClip(1e-3)
    stats = ait.GradientStatsPrint(stats_eval_freq=4)
    fit = _native_run(clip, epochs=1)
    assert fit.state.global_step == 4 and clip.train_loop_obj.grad_cb_used
    value = ait.GradValueClip(1e-4)
    _native_run(value, epochs=1)
    fit = _native_run(stats, epochs=1)
    assert stats.last_stats and stats.updates == 4
    torch.manual_seed(0)
    model = nn.Linear(FEATURES, 2)
    task = ut.Task(model, loss=nn.CrossEntropyLoss(), optimizer=torch.optim.SGD(model.parameters()))
    clipped = ut.Trainer(task, plugins=[ait.GradNormClip(1e-3), Norm()], max_epochs=1, device="cpu")
    clipped.fit(make_batches())
    assert seen and max(seen) <= 1e-3 * 1.0001  # clipped before every step


def test_schedulers_step_the_native_optimizer() -> None:
    step = ait.StepLRScheduler(step_size=1, gamma=0.5)
    fit = _native_run(step, epochs=3)
    assert fit.state.optimizers[0].param_groups[0]["lr"] == pytest.approx(0.1 * 0.5**3)
    warmup = ait.LinearWithWarmupScheduler(2, 12)
    fit = _native_run(warmup, epochs=3)
    assert fit.state.optimizers[0].param_groups[0]["lr"] == pytest.approx(0.0)
    with pytest.raises(ConfigError, match="num_training_steps"):
        _native_run(ait.LinearWithWarmupScheduler(2), epochs=1)


def test_checkpoints_and_history_files_from_a_native_trainer(tmp_path: Path) -> None:
    folder = {**EXPERIMENT, "local_model_result_folder_path": str(tmp_path)}
    checkpoint = ait.ModelCheckpoint(**folder)
    fit = _native_run(checkpoint, epochs=2)
    stamp = checkpoint.train_loop_obj.experiment_timestamp
    saved = tmp_path / "proj" / f"exp_{stamp}" / "checkpoint_model"
    assert sorted(os.listdir(saved)) == [f"model_exp_{stamp}_E0.pth", f"model_exp_{stamp}_E1.pth"]
    state = torch.load(saved / f"model_exp_{stamp}_E1.pth", weights_only=True)
    assert all(
        torch.equal(state["model_state_dict"][k], v)
        for k, v in fit.state.model.state_dict().items()
    )
    iterations = ait.ModelIterationCheckpoint(3, **folder)
    _native_run(iterations, epochs=1)
    writer = ait.ModelTrainHistoryFileWriter(**folder)
    _native_run(writer, epochs=2)
    assert writer.train_loop_obj.train_history["val_loss"]


def test_misc_callbacks_on_a_native_trainer(capsys: pytest.CaptureFixture[str]) -> None:
    rename = ait.MetricHistoryRename("val_loss", "validation_loss")
    _native_run(rename, epochs=2)
    assert len(rename.train_loop_obj.train_history["validation_loss"]) == 2
    listing = ait.ListRegisteredCallbacks()
    _native_run(listing, epochs=1)
    assert "Print the list of registered callbacks" in capsys.readouterr().out
    report = ait.ModelPerformancePrintReport(["val_loss"])
    _native_run(report, epochs=1)
    assert "val_loss" in report.last_report
    sampler = torch.utils.data.DistributedSampler(range(8), num_replicas=2, rank=0)
    _native_run(DistributedSamplerSetEpoch(sampler, None, None), epochs=2)
    assert sampler.epoch == 1


@pytest.mark.parametrize(
    "make",
    [
        lambda: ait.AllPredictionsSame(),
        lambda: ait.ModelPerformanceEvaluation(
            ait.ClassificationResultPackage(), on_val_data=False, on_train_data=True
        ),
    ],
    ids=["AllPredictionsSame", "ModelPerformanceEvaluation"],
)
def test_prediction_callbacks_are_refused_by_name(make: Callable[[], Any]) -> None:
    with pytest.raises(ConfigError, match="asks for predictions"):
        _native_run(make(), epochs=1)


def test_a_callback_without_its_experiment_details_is_refused() -> None:
    with pytest.raises(AttributeError, match="cannot be inferred"):
        _native_run(ait.ModelCheckpoint(), epochs=1)
