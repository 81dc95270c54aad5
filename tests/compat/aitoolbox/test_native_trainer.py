"""aitoolbox callbacks handed straight to a native ``unitrain.Trainer(plugins=[...])``.

Every shipped callback runs next to a native plugin, a t3w side effect and an ikkuna
subscriber, with the same ``train_loop_obj`` attributes it has in a ``TrainLoop``; the
prediction passes run the native task and give a ``TrainLoop``'s numbers.
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
from tests.compat.aitoolbox._tiny import FEATURES, TinyNet, make_batches, make_loop, same
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


class ArgmaxTask(ut.Task):
    """A native task whose predictions are class indices (``Trainer.predict``'s too)."""

    def predict_batch(self, batch: Any) -> Any:
        inputs, _ = self.split_batch(batch)
        return self.forward(inputs).argmax(dim=1)


def _native_tiny(callbacks: list[Any], epochs: int = 2, test: bool = True) -> ut.Trainer:
    """TinyNet (a TTModel, a plain nn.Module here) trained natively, as make_loop trains it."""
    model = TinyNet()
    task = ArgmaxTask(
        model, loss=nn.CrossEntropyLoss(), optimizer=torch.optim.SGD(model.parameters(), lr=0.1)
    )
    fit = ut.Trainer(task, plugins=callbacks, max_epochs=epochs, device="cpu")
    evals = {"train": make_batches(), "val": make_batches(2, seed=1)}
    if test:
        evals["test"] = make_batches(1, seed=5)
    fit.fit(make_batches(), evals)
    return fit


def test_model_performance_evaluation_matches_a_train_loop() -> None:
    def evaluation() -> Any:
        return ait.ModelPerformanceEvaluation(
            ait.ClassificationResultPackage(), on_train_data=True, on_val_data=True
        )

    looped, native = evaluation(), evaluation()
    loop = make_loop(test=make_batches(1, seed=5))
    loop.fit(num_epochs=2, callbacks=[looped])
    fit = _native_tiny([native])
    names = [n for n in loop.train_history if n.endswith("_Accuracy")]  # the callback's
    assert len(names) == 4 and len(loop.train_history["val_Accuracy"]) == 2
    for name in names:
        assert native.train_loop_obj.train_history[name] == pytest.approx(loop.train_history[name])
    assert same(loop.model, fit.state.model)  # the same training, so the same numbers


def test_prediction_and_loss_passes_return_what_a_train_loop_returns() -> None:
    got: dict[str, Any] = {}

    def look(tl: Any) -> None:
        for split in ("train", "validation", "test"):
            got[split] = getattr(tl, f"predict_on_{split}_set")()
            got[f"{split}_loss"] = getattr(tl, f"evaluate_loss_on_{split}_set")()
        got["float"] = tl.evaluate_loss_on_validation_set(float_dict_format=True)

    probe = ait.FunctionOnTrainLoop(look, train_end=True)
    fit = _native_tiny([probe], epochs=1)
    loop = make_loop(test=make_batches(1, seed=5))
    loop.fit(num_epochs=1)
    assert same(loop.model, fit.state.model)
    for split in ("train", "validation", "test"):
        y_pred, y_true, meta = got[split]
        want_pred, want_true, _ = getattr(loop, f"predict_on_{split}_set")()
        assert torch.equal(y_pred, want_pred) and torch.equal(y_true, want_true) and meta == {}
        want = getattr(loop, f"evaluate_loss_on_{split}_set")()
        assert got[f"{split}_loss"].dtype == want.dtype == torch.float64
        assert float(got[f"{split}_loss"]) == pytest.approx(float(want))
    assert isinstance(got["float"], float)
    assert got["float"] == pytest.approx(fit.state.eval_metrics["val"]["loss"])


def test_prediction_callbacks_leave_the_training_bit_identical() -> None:
    plain = _native_tiny([], epochs=3)
    watched = _native_tiny(
        [
            ait.AllPredictionsSame(value=7.0),
            ait.ModelPerformanceEvaluation(
                ait.ClassificationResultPackage(), on_train_data=True, on_val_data=True
            ),
        ],
        epochs=3,
    )
    assert same(plain.state.model, watched.state.model)
    shuffled = []
    for callbacks in (
        [],
        [
            ait.AllPredictionsSame(),
            ait.FunctionOnTrainLoop(lambda tl: tl.predict_on_train_set(), batch_end=True),
        ],
    ):
        torch.manual_seed(3)
        model = TinyNet()
        task = ArgmaxTask(
            model, loss=nn.CrossEntropyLoss(), optimizer=torch.optim.SGD(model.parameters(), lr=0.1)
        )
        data = torch.utils.data.DataLoader(
            torch.utils.data.TensorDataset(*map(torch.cat, zip(*make_batches(), strict=True))),
            batch_size=4,
            shuffle=True,  # re-iterating it mid-epoch draws a seed: the pass forks the RNG
        )
        fit = ut.Trainer(task, plugins=callbacks, max_epochs=2, device="cpu")
        fit.fit(data, {"val": make_batches(2, seed=1)})
        assert fit.state.model.training
        shuffled.append(fit.state.model)
    assert same(*shuffled)


def test_all_predictions_same_on_a_native_trainer() -> None:
    collapsed = ait.AllPredictionsSame(value=0.0, stop_training=True, verbose=False)
    model = TinyNet()
    with torch.no_grad():  # every logit of class 0 wins: a collapsed classifier
        model.body[2].weight.zero_()
        model.body[2].bias.copy_(torch.tensor([1.0, 0.0]))
    task = ArgmaxTask(
        model, loss=nn.CrossEntropyLoss(), optimizer=torch.optim.SGD(model.parameters(), lr=0.0)
    )
    fit = ut.Trainer(task, plugins=[collapsed], max_epochs=5, device="cpu")
    fit.fit(make_batches(), {"val": make_batches(2, seed=1)})
    assert collapsed.all_same_epochs == [0] and fit.state.epoch == 1  # stopped after epoch 0
    healthy = ait.AllPredictionsSame(value=0.0, verbose=False)
    _native_tiny([healthy])
    assert healthy.all_same_epochs == []


def test_a_split_the_native_trainer_lacks_is_refused_by_name() -> None:
    evaluation = ait.ModelPerformanceEvaluation(
        ait.ClassificationResultPackage(), on_val_data=False, on_train_data=True
    )
    _native_run(evaluation, epochs=1)  # the train set is the fit's training data
    assert "train_Accuracy" in evaluation.train_loop_obj.train_history
    probe = ait.FunctionOnTrainLoop(lambda tl: tl.predict_on_test_set(), epoch_end=True)
    with pytest.raises(ConfigError, match=r"test set \(split 'test'\).*eval_data=\{\"val\""):
        _native_tiny([probe], test=False)


def test_a_callback_without_its_experiment_details_is_refused() -> None:
    with pytest.raises(AttributeError, match="cannot be inferred"):
        _native_run(ait.ModelCheckpoint(), epochs=1)


def test_the_passes_run_in_eval_mode_and_restore_train_mode() -> None:
    seen: list[Any] = []

    def look(tl: Any) -> None:
        seen.append((tl.predict_on_validation_set()[0], tl.model.training))

    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(FEATURES, 8), nn.Dropout(0.9), nn.Linear(8, 2))
    task = ArgmaxTask(
        model, loss=nn.CrossEntropyLoss(), optimizer=torch.optim.SGD(model.parameters(), lr=0.0)
    )
    probe = ait.FunctionOnTrainLoop(look, epoch_end=True)
    val = make_batches(2, seed=1)
    ut.Trainer(task, plugins=[probe], max_epochs=2, device="cpu").fit(make_batches(), {"val": val})
    model.eval()
    with torch.no_grad():
        want = torch.cat([model(x).argmax(dim=1) for x, _ in val])
    assert len(seen) == 2  # no dropout in the passes, train mode back after them
    assert all(torch.equal(pred, want) and training for pred, training in seen)


def test_execute_callbacks_runs_each_after_batch_prediction() -> None:
    batches: list[tuple[Any, ...]] = []

    class Batches(ait.AbstractCallback):
        def __init__(self) -> None:
            super().__init__("batches")

        def on_after_batch_prediction(self, y_pred: Any, y_true: Any, meta: Any, info: Any) -> None:
            batches.append((y_pred, y_true, meta, info))

    probe = ait.FunctionOnTrainLoop(
        lambda tl: tl.predict_on_validation_set(execute_callbacks=True), epoch_end=True
    )
    _native_tiny([Batches(), probe], epochs=1, test=False)
    val = make_batches(2, seed=1)
    assert [info for *_, info in batches] == [{"type": "validation"}] * 2
    assert all(torch.equal(y, want) for (_, y, _, _), (_, want) in zip(batches, val, strict=True))
