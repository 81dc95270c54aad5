"""Errors name the culprit and come before any optimizer step changes the weights."""

from __future__ import annotations

from collections.abc import Generator, Sequence
from typing import Any

import pytest
import torch

import unitrain as ut
from tests.conftest import Recorder, make_batches, make_model, make_task, same_weights, weights

# ---------------------------------------------------------------- plugins that cannot register


def test_misspelt_event_is_rejected_with_a_suggestion() -> None:
    class Logger:
        def on_epoch_ned(self, state: ut.State) -> None: ...

    with pytest.raises(ut.PluginError) as caught:
        ut.Trainer(make_task(), plugins=[Logger()], max_epochs=1)
    message = str(caught.value)
    assert "'logger'" in message and "'on_epoch_ned'" in message
    assert "Did you mean 'on_epoch_end'" in message
    assert "not_a_hook" in message  # says how to keep a helper with such a name


def test_misspelt_stage_is_rejected_with_a_suggestion() -> None:
    class Fast:
        def run_foward(self, state: ut.State, batch: Any) -> None: ...

    with pytest.raises(ut.PluginError, match=r"'run_foward'.*Did you mean 'run_forward'"):
        ut.Trainer(make_task(), plugins=[Fast()], max_epochs=1)


def test_wrong_argument_names_are_rejected() -> None:
    class Counter:
        def on_epoch_end(self, state: ut.State, epoch: int) -> None: ...

    with pytest.raises(ut.PluginError) as caught:
        ut.Trainer(make_task(), plugins=[Counter()], max_epochs=1)
    message = str(caught.value)
    assert "'counter'" in message and "on_epoch_end" in message and "epoch" in message


def test_a_rejected_plugin_leaves_nothing_registered() -> None:
    class Half:
        def on_fit_start(self, state: ut.State) -> None: ...

        def on_fit_ende(self, state: ut.State) -> None: ...

    manager = ut.PluginManager()
    with pytest.raises(ut.PluginError):
        manager.register(Half(), name="half")
    assert "half" not in manager and manager.implementations("on_fit_start") == []

    class Whole:
        def on_fit_start(self, state: ut.State) -> None: ...

    assert manager.register(Whole(), name="half") == "half"  # the name is free again


# ---------------------------------------------------------------- plugins that raise


class EventFailure:
    def on_train_step_end(self, state: ut.State) -> None:
        if state.global_step == 2:
            raise RuntimeError("event failed")


class StageFailure:
    def run_forward(self, state: ut.State, batch: Any) -> None:
        if state.global_step == 2:
            raise RuntimeError("stage failed")


class WrapperFailure:
    @ut.hookimpl(wrapper=True)
    def run_backward(self, state: ut.State) -> Generator[None, Any, Any]:
        result = yield
        if state.global_step == 2:
            raise RuntimeError("wrapper failed")
        return result


@pytest.mark.parametrize(
    ("plugin", "hook", "name", "where"),
    [
        (EventFailure(), "on_train_step_end", "event_failure", "epoch 0, batch_idx 1"),
        (StageFailure(), "run_forward", "stage_failure", "epoch 1, batch_idx 0"),
        (WrapperFailure(), "run_backward", "wrapper_failure", "epoch 1, batch_idx 0"),
    ],
    ids=["event", "stage", "wrapper"],
)
def test_plugin_raising_in_each_hook_kind(plugin: object, hook: str, name: str, where: str) -> None:
    recorder = Recorder()
    trainer = ut.Trainer(make_task(), plugins=[plugin, recorder], max_epochs=3, device="cpu")
    with pytest.raises(RuntimeError, match="failed") as caught:
        trainer.fit(make_batches(2))
    notes = caught.value.__notes__
    assert len(notes) == 1
    assert f"raised by plugin {name!r} in hook {hook!r}" in notes[0]
    assert f"{where}, global_step 2" in notes[0]
    assert recorder.errors == [caught.value]
    assert "fit_end" not in recorder.events


def test_failing_on_exception_is_isolated() -> None:
    class Broken:
        def on_exception(self, state: ut.State, error: BaseException) -> None:
            raise OSError("disk full")

    recorder = Recorder()
    trainer = ut.Trainer(
        make_task(), plugins=[Broken(), recorder, EventFailure()], max_epochs=3, device="cpu"
    )
    with pytest.raises(RuntimeError, match="event failed") as caught:
        trainer.fit(make_batches(2))
    assert recorder.errors == [caught.value]  # ran although an earlier on_exception raised
    assert any(
        "on_exception of plugin 'broken' also raised OSError: disk full" in note
        for note in caught.value.__notes__
    )


# ---------------------------------------------------------------- bad input, before any step


class Point(ut.IDatum):
    def __init__(self, x: torch.Tensor, y: torch.Tensor) -> None:
        self.x, self.y = x, y

    @staticmethod
    def collate(data: Sequence[ut.IDatum]) -> Any:  # wrong: a tuple, not a minibatch
        points = [p for p in data if isinstance(p, Point)]
        return torch.stack([p.x for p in points]), torch.stack([p.y for p in points])


class Points(ut.IDataset):
    datum_type = Point

    def __len__(self) -> int:
        return 4

    def __getitem__(self, index: int) -> ut.IDatum:
        return Point(torch.ones(3) * index, torch.tensor(index % 2))


def fails_before_any_step(data: object, error: type[Exception], match: str, **kw: Any) -> None:
    task = make_task()
    before = weights(task.model)
    recorder = Recorder()
    trainer = ut.Trainer(task, plugins=[recorder], max_epochs=1, device="cpu", **kw)
    with pytest.raises(error, match=match):
        trainer.fit(data)
    assert same_weights(task.model, before)
    assert trainer.state.global_step == 0
    assert "after_optimizer_step" not in recorder.events


def test_wrong_collate_type() -> None:
    fails_before_any_step(
        Points(), ut.BatchError, r"collate returned tuple, expected an IMiniBatch"
    )


def test_mismatched_batch_sizes() -> None:
    x, y = make_batches(1)[0]
    fails_before_any_step(
        [(x, y[:3])] * 2, ut.BatchError, r"disagree in batch size \(batch\[0\]: 4, batch\[1\]: 3\)"
    )


def test_mismatched_batch_sizes_in_a_dict() -> None:
    x, y = make_batches(1)[0]
    bad = [{"input": x, "target": y[:2]}]
    fails_before_any_step(bad, ut.BatchError, r"batch\['target'\]: 2")


def test_batch_of_an_unusable_type() -> None:
    fails_before_any_step(["not a batch"], ut.BatchError, r"batch of type str")


def test_bad_batch_on_a_second_fit_is_caught_too() -> None:
    task = make_task()
    trainer = ut.Trainer(task, max_epochs=1, device="cpu")
    trainer.fit(make_batches(1))
    trainer.config = trainer.config.model_copy(update={"max_epochs": 2})
    x, y = make_batches(1)[0]
    before = weights(task.model)
    with pytest.raises(ut.BatchError, match="disagree in batch size"):
        trainer.fit([(x, y[:1])])
    assert same_weights(task.model, before)


def test_no_optimizer() -> None:
    task = make_task(optimizer=None)
    before = weights(task.model)
    with pytest.raises(ut.StageError, match="no plugin made an optimizer: pass optimizer="):
        ut.Trainer(task, max_epochs=1, device="cpu").fit(make_batches(1))
    assert same_weights(task.model, before)


def test_no_loss() -> None:
    task = make_task(loss=None)
    before = weights(task.model)
    with pytest.raises(ut.StageError, match=r"produced no loss: give unitrain\.Task a loss="):
        ut.Trainer(task, max_epochs=1, device="cpu").fit(make_batches(1))
    assert same_weights(task.model, before)


def test_a_stage_that_returns_nothing() -> None:
    class Forgetful(ut.Task):
        def run_forward(self, state: ut.State, batch: Any) -> ut.StepResult | None:
            super().run_forward(state, batch)  # forgot the return
            return None

    model = make_model()
    before = weights(model)
    task = Forgetful(model, loss=torch.nn.CrossEntropyLoss(), optimizer=torch.optim.SGD)
    trainer = ut.Trainer(task, max_epochs=1, device="cpu")
    with pytest.raises(ut.StageError, match=r"'run_forward' returned nothing; expected a StepRes"):
        trainer.fit(make_batches(1))
    assert same_weights(model, before)


def test_an_eval_stage_of_the_wrong_kind() -> None:
    class Wrong:
        def run_eval_step(self, state: ut.State, batch: Any) -> float:
            return 0.5

    trainer = ut.Trainer(make_task(), plugins=[Wrong()], max_epochs=1, device="cpu")
    with pytest.raises(
        ut.StageError, match=r"'run_eval_step' returned float; expected a StepResult"
    ):
        trainer.evaluate(make_batches(1))


def test_empty_training_data_is_an_error_not_a_hang() -> None:
    task = make_task()
    trainer = ut.Trainer(task, max_steps=3, device="cpu")
    with pytest.raises(ut.ConfigError, match="train_data yielded no batches"):
        trainer.fit([])


def test_a_generator_is_not_reused_silently() -> None:
    trainer = ut.Trainer(make_task(), max_epochs=2, device="cpu")
    with pytest.raises(ut.ConfigError, match="not a generator"):
        trainer.fit(batch for batch in make_batches(2))
    assert trainer.state.global_step == 2  # the first epoch ran; the second found nothing


@pytest.mark.parametrize("data", [42, "batches", torch.utils.data.TensorDataset(torch.ones(2))])
def test_data_that_is_not_batches(data: object) -> None:
    with pytest.raises(ut.ConfigError, match="train_data: got"):
        ut.Trainer(make_task(), max_epochs=1, device="cpu").fit(data)


# ---------------------------------------------------------------- bad settings


def test_bad_settings_are_listed_all_at_once() -> None:
    with pytest.raises(ut.ConfigError) as caught:
        ut.Trainer(
            make_task(), max_epochs=0, accumulation=0, eval_every_steps=0, limit_train_batches=-1
        )
    message = str(caught.value)
    assert message.startswith("4 problem(s)")
    for name, given in [
        ("max_epochs", 0),
        ("accumulation", 0),
        ("eval_every_steps", 0),
        ("limit_train_batches", -1),
    ]:
        assert f"  - {name}: Input should be greater than or equal to 1 (got {given})" in message


def test_missing_length_is_listed_with_the_other_problems() -> None:
    with pytest.raises(ut.ConfigError) as caught:
        ut.Trainer(make_task(), accumulation=0, device="no-such-device")
    message = str(caught.value)
    assert message.startswith("3 problem(s)")
    assert "give max_epochs or max_steps" in message
    assert "accumulation" in message and "'no-such-device'" in message


def test_a_task_without_a_model() -> None:
    with pytest.raises(ut.ConfigError, match="must have a `model` attribute"):
        ut.Trainer(object(), max_epochs=1)


def test_a_non_scalar_eval_value_is_named_with_its_shape() -> None:
    import pytest
    import torch
    from torch import nn

    import unitrain as ut

    class WideMetricTask(ut.Task):
        def run_eval_step(self, state: ut.State, batch: object) -> ut.StepResult:
            result = super().run_eval_step(state, batch)
            assert result is not None
            result.metrics["per_sample"] = torch.ones(4)
            return result

    task = WideMetricTask(nn.Linear(3, 2), loss=nn.CrossEntropyLoss())
    trainer = ut.Trainer(task, max_epochs=1, device="cpu")
    data = [(torch.randn(4, 3), torch.tensor([0, 1, 0, 1]))]
    with pytest.raises(ut.StageError, match=r"'per_sample' has shape \(4,\)"):
        trainer.evaluate(data)
