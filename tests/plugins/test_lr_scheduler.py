"""Learning-rate schedulers: per epoch, per optimizer step, every N, on a metric."""

from __future__ import annotations

import pytest
import torch
from torch.optim.lr_scheduler import ReduceLROnPlateau, StepLR

import unitrain as ut
from tests.conftest import Unsized, make_batches, make_model, make_task
from unitrain.core.schedule import ScheduledLR
from unitrain.plugins.lr_scheduler import LRScheduler


def lr(state: ut.State, index: int = 0) -> float:
    return float(state.optimizers[index].param_groups[0]["lr"])


def halve(optimizer: torch.optim.Optimizer) -> StepLR:
    return StepLR(optimizer, step_size=1, gamma=0.5)


def test_a_task_scheduler_steps_once_per_epoch() -> None:
    trainer = ut.Trainer(make_task(lr=0.8, scheduler=halve), max_epochs=3, device="cpu")
    state = trainer.fit(make_batches(2))
    assert len(state.schedulers) == 1 and state.schedulers[0].interval == "epoch"
    assert lr(state) == pytest.approx(0.1)


def test_every_n_epochs() -> None:
    plugin = LRScheduler(halve, frequency=2)
    state = ut.Trainer(make_task(lr=0.8), plugins=[plugin], max_epochs=5, device="cpu").fit(
        make_batches(1)
    )
    assert lr(state) == pytest.approx(0.2)  # after epochs 2 and 4


@pytest.mark.parametrize("sized", [True, False], ids=["len", "no-len"])
def test_per_step_follows_optimizer_steps_under_accumulation(sized: bool) -> None:
    plugin = LRScheduler(lambda o: StepLR(o, step_size=1, gamma=0.5), interval="step")
    data = make_batches(5)
    trainer = ut.Trainer(
        make_task(lr=1.0), plugins=[plugin], max_epochs=2, accumulation=2, device="cpu"
    )
    state = trainer.fit(data if sized else Unsized(data))
    assert state.global_step == 6
    assert state.schedulers[0].scheduler.last_epoch == 6  # the short last windows count too
    assert lr(state) == pytest.approx(0.5**6)


def test_plateau_on_a_monitored_metric() -> None:
    plugin = LRScheduler(
        lambda o: ReduceLROnPlateau(o, factor=0.5, patience=0), monitor="loss", split="val"
    )
    trainer = ut.Trainer(make_task(lr=1e-6), plugins=[plugin], max_epochs=3, device="cpu")
    state = trainer.fit(make_batches(2), eval_data=make_batches(1))
    # a learning rate this small cannot improve the loss by the plateau threshold
    assert lr(state) == pytest.approx(1e-6 * 0.5**2)


def test_a_monitored_metric_that_is_missing() -> None:
    plugin = LRScheduler(lambda o: ReduceLROnPlateau(o), monitor="loss", split="test")
    trainer = ut.Trainer(make_task(), plugins=[plugin], max_epochs=1, device="cpu")
    with pytest.raises(ut.StateError, match=r"monitors 'loss' of split 'test'.*eval_data="):
        trainer.fit(make_batches(1), eval_data=make_batches(1))


def test_one_optimizer_of_several() -> None:
    model = make_model()

    class Two:
        def make_optimizer(self, model: torch.nn.Module) -> list[torch.optim.Optimizer]:
            first, second = model[0], model[2]  # type: ignore[index]
            return [
                torch.optim.SGD(first.parameters(), lr=1.0),
                torch.optim.SGD(second.parameters(), lr=1.0),
            ]

    plugin = LRScheduler(halve, optimizer_idx=1)
    task = ut.Task(model, loss=torch.nn.CrossEntropyLoss())
    state = ut.Trainer(task, plugins=[Two(), plugin], max_epochs=2, device="cpu").fit(
        make_batches(1)
    )
    assert len(state.optimizers) == 2 and len(state.schedulers) == 1
    assert (lr(state, 0), lr(state, 1)) == (1.0, 0.25)
    assert state.schedulers[0].scheduler.optimizer is state.optimizers[1]


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"interval": "hour"}, "interval must be 'epoch' or 'step'"),
        ({"frequency": 0}, "frequency must be >= 1"),
    ],
)
def test_bad_settings_fail_at_construction(kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(ut.ConfigError, match=match):
        LRScheduler(halve, **kwargs)  # type: ignore[arg-type]


def test_plateau_needs_a_metric() -> None:
    optimizer = torch.optim.SGD(make_model().parameters(), lr=0.1)
    with pytest.raises(ut.ConfigError, match="ReduceLROnPlateau needs a metric"):
        ScheduledLR(ReduceLROnPlateau(optimizer))


def test_scheduler_state_is_in_the_trainer_state_dict() -> None:
    trainer = ut.Trainer(make_task(lr=0.8, scheduler=halve), max_epochs=2, device="cpu")
    trainer.fit(make_batches(1))
    saved = trainer.state_dict()
    assert saved["schedulers"][0]["last_epoch"] == 2


class LRAtEpochEnd:
    def __init__(self, order: int = 0) -> None:
        self.order = order
        self.seen: list[float] = []

    def on_epoch_end(self, state: ut.State) -> None:
        self.seen.append(lr(state))


def test_the_engine_steps_schedulers_without_registering_a_plugin() -> None:
    trainer = ut.Trainer(make_task(lr=0.8, scheduler=halve), max_epochs=1, device="cpu")
    before = [record.name for record in trainer.plugins]
    trainer.fit(make_batches(2))
    trainer.fit(make_batches(2))  # a second fit: max_epochs reached, nothing more steps
    assert [record.name for record in trainer.plugins] == before
    assert len(trainer.state.schedulers) == 1 and lr(trainer.state) == pytest.approx(0.4)


def test_every_plugin_sees_the_stepped_rate_at_epoch_end() -> None:
    # the engine steps epoch schedulers before on_epoch_end, whatever a plugin's order
    after, before = LRAtEpochEnd(), LRAtEpochEnd(order=-5)
    task = make_task(lr=0.8, scheduler=halve)
    trainer = ut.Trainer(task, plugins=[after, before], max_epochs=2, device="cpu")
    trainer.fit(make_batches(2))
    assert after.seen == pytest.approx([0.4, 0.2])
    assert before.seen == pytest.approx([0.4, 0.2])


class LRAtStepEnd:
    def __init__(self) -> None:
        self.seen: list[tuple[int, float]] = []

    def on_train_step_end(self, state: ut.State) -> None:
        self.seen.append((state.global_step, lr(state)))


def test_a_per_step_scheduler_has_stepped_when_the_step_ends() -> None:
    plugin, seen = LRScheduler(halve, interval="step"), LRAtStepEnd()
    trainer = ut.Trainer(make_task(lr=1.0), plugins=[plugin, seen], max_epochs=1, device="cpu")
    trainer.fit(make_batches(3))
    assert seen.seen == [(1, 0.5), (2, 0.25), (3, 0.125)]
