"""Stopping and utility callbacks on real small runs."""

from __future__ import annotations

from typing import Any

import pytest
import torch

from tests.compat.aitoolbox._tiny import TinyNet, Trace, make_batches, make_loop
from unitrain.compat.aitoolbox import (
    AllPredictionsSame,
    DataSubsetTestRun,
    EarlyStopping,
    FunctionOnTrainLoop,
    ListRegisteredCallbacks,
    TerminateOnNaN,
    ThresholdEarlyStopping,
)
from unitrain.errors import ConfigError


def scripted(name: str, values: list[float]) -> FunctionOnTrainLoop:
    """Writes ``values[epoch]`` into the history at each epoch end (order 0)."""

    def write(loop: Any) -> None:
        loop.insert_metric_result_into_history(name, values[loop.epoch])

    return FunctionOnTrainLoop(write, epoch_end=True)


@pytest.mark.parametrize(
    ("values", "patience", "min_delta", "epochs_run"),
    [
        ([1.0, 0.9, 0.95, 0.8, 0.7, 0.6], 0, 0.0, 3),  # no improvement at epoch 2
        ([1.0, 0.9, 0.95, 0.92, 0.7, 0.6], 1, 0.0, 4),  # two epochs without improvement
        ([1.0, 0.95, 0.9, 0.85, 0.8, 0.75], 0, 0.1, 2),  # improvements smaller than min_delta
    ],
)
def test_early_stopping_stops_at_the_right_epoch(
    values: list[float], patience: int, min_delta: float, epochs_run: int
) -> None:
    loop = make_loop(val=None, end_auto_eval=False)
    stopper = EarlyStopping("scripted_loss", min_delta=min_delta, patience=patience)
    loop.fit(num_epochs=6, callbacks=[stopper, scripted("scripted_loss", values)])
    # aitoolbox: after a fit `epoch` is the index of the last epoch run
    assert loop.epoch == epochs_run - 1 and stopper.execution_order == 99


def test_early_stopping_maximises_other_metrics() -> None:
    loop = make_loop(val=None, end_auto_eval=False)
    stopper = EarlyStopping("val_acc")
    loop.fit(num_epochs=5, callbacks=[stopper, scripted("val_acc", [0.5, 0.6, 0.55, 0.9, 1.0])])
    assert loop.epoch == 2 and stopper.best_performance == 0.6 and stopper.best_epoch == 1


def test_early_stopping_on_real_val_loss_and_missing_metric() -> None:
    loop = make_loop(lr=0.0)  # nothing learns: val_loss never improves
    loop.fit(num_epochs=5, callbacks=[EarlyStopping(patience=1)])
    assert loop.epoch == 2
    with pytest.raises(ConfigError, match="no value in train_history"):
        make_loop(val=None).fit(num_epochs=1, callbacks=[EarlyStopping()])


def test_threshold_early_stopping() -> None:
    loop = make_loop(val=None, end_auto_eval=False)
    stopper = ThresholdEarlyStopping("scripted_loss", threshold=0.5, patience=1)
    values = [0.45, 0.4, 0.7, 0.6, 0.3, 0.2]
    loop.fit(num_epochs=6, callbacks=[stopper, scripted("scripted_loss", values)])
    assert loop.epoch == 3  # epochs 2 and 3 miss the threshold; patience 1 stops at 3


class Diverging(TinyNet):
    def get_loss(self, batch_data: Any, criterion: Any, device: torch.device) -> Any:
        return self(batch_data[0]).pow(2).mean()  # with a huge step size it overflows


def test_terminate_on_nan_with_a_diverging_model() -> None:
    loop = make_loop(model=Diverging(), lr=1e20, val=None)
    terminate = TerminateOnNaN()
    loop.fit(num_epochs=10, callbacks=[terminate])
    assert loop.epoch < 10 and terminate.execution_order == 98
    assert not torch.isfinite(torch.tensor(loop.train_history["loss"][-1]))


class Collapsed(TinyNet):
    def get_predictions(self, batch_data: Any, device: torch.device) -> Any:
        return torch.zeros(len(batch_data[1])), batch_data[1], None


def test_all_predictions_same() -> None:
    detector = AllPredictionsSame(value=0.0, stop_training=True, verbose=False)
    loop = make_loop(model=Collapsed())
    loop.fit(num_epochs=4, callbacks=[detector])
    assert detector.all_same_epochs == [0] and loop.epoch == 0
    healthy = AllPredictionsSame(value=5.0)
    make_loop().fit(num_epochs=1, callbacks=[healthy])
    assert healthy.all_same_epochs == []


def test_function_on_train_loop_runs_at_selected_points() -> None:
    calls: list[tuple[str, int]] = []
    registration = FunctionOnTrainLoop(
        lambda tl: calls.append(("reg", tl.epoch)), tl_registration=True
    )
    grads = FunctionOnTrainLoop(
        lambda tl: calls.append(("grad", tl.total_iteration_idx)), after_gradient_update=True
    )
    loop = make_loop(val=None, train=make_batches(count=2))
    loop.fit(num_epochs=1, callbacks=[registration, grads])
    assert calls == [("reg", 0), ("grad", 0), ("grad", 1)] and loop.grad_cb_used
    manual = FunctionOnTrainLoop(lambda tl: calls.append(("manual", tl.epoch)))  # no point
    loop.fit(num_epochs=2, callbacks=[manual])
    assert calls[-1] == ("grad", 3)  # it never ran inside the fit
    manual.execute_callback()
    assert calls[-1] == ("manual", 1)


def test_early_stop_and_data_subset_outside_a_fit() -> None:
    loop = make_loop(val=None)
    stopper = EarlyStopping("metric_loss")
    loop.callbacks_handler.register_callbacks([stopper])
    for value in (1.0, 2.0):  # driven by hand, as aitoolbox's own tests drive callbacks
        loop.insert_metric_result_into_history("metric_loss", value)
        stopper.on_epoch_end()
    assert loop.early_stop
    with pytest.raises(ConfigError, match="no validation_loader"):
        loop.callbacks_handler.register_callbacks([DataSubsetTestRun(1, num_val_batches=2)])


def test_list_registered_callbacks(capsys: pytest.CaptureFixture[str]) -> None:
    log: list[str] = []
    callbacks = [Trace("late", log, 5), ListRegisteredCallbacks(), Trace("early", log, -1)]
    make_loop(val=None).fit(num_epochs=1, callbacks=callbacks)
    out = capsys.readouterr().out
    # aitoolbox's listing: per hook, each callback's line in execution order
    end = out.split("At on_epoch_end:")[1].split("At ")[0]
    assert end.index("early") < end.index("late")
    begin = out.split("At on_train_begin:")[1].split("At ")[0]
    assert begin.index("early") < begin.index("Print the list") < begin.index("late")


def test_data_subset_test_run() -> None:
    log: list[str] = []
    loop = make_loop(train=make_batches(count=5), val=make_batches(3, seed=1))
    loop.fit(num_epochs=2, callbacks=[DataSubsetTestRun(2, 1), Trace("t", log)])
    assert log.count("t:batch_begin") == 4 and loop.state.micro_step == 4
    assert len(loop.validation_loader) == 1 and len(loop.predict_on_validation_set()[0]) == 4
    with pytest.raises(ConfigError, match="num_train_batches"):
        DataSubsetTestRun(0)
