"""The hooks through which extensions reach the loop (``make_epoch_batches``,
``on_train_batches_end``, ``on_before_save_checkpoint``, ``on_before_load_checkpoint``), the
prediction step's opening event, and the engine alone, without its extensions."""

from __future__ import annotations

from collections.abc import Generator, Iterable, Iterator
from typing import Any

import pytest
import torch

import unitrain as ut
from tests.conftest import make_batches, make_task
from unitrain.core.engine import Engine


class Reversed:
    """Draws each epoch's batches in reverse order, and records what the hooks saw."""

    def __init__(self) -> None:
        self.events: list[tuple[Any, ...]] = []

    def make_epoch_batches(
        self, state: ut.State, loader: object, batches: Iterable[Any]
    ) -> Iterator[Any]:
        self.events.append(("batches", state.epoch, state.batch_idx, state.epoch_length))

        def reverse() -> Iterator[Any]:
            self.events.append(("first fetch",))
            yield from reversed(list(batches))

        return reverse()

    def on_epoch_start(self, state: ut.State) -> None:
        self.events.append(("epoch_start", state.epoch))

    def on_train_step_start(self, state: ut.State, batch: Any) -> None:
        self.events.append(("step", int(batch[0][0, 0])))

    def on_train_batches_end(self, state: ut.State, exhausted: bool) -> None:
        self.events.append(("batches_end", exhausted, state.batch_idx))


def labelled(count: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Batches whose first input value is the batch's index."""
    batches = make_batches(count)
    for index, (inputs, _) in enumerate(batches):
        inputs[0, 0] = index
    return batches


def test_make_epoch_batches_gives_the_epoch_its_batches_after_on_epoch_start() -> None:
    plugin = Reversed()
    trainer = ut.Trainer(make_task(), plugins=[plugin], max_epochs=1, device="cpu")
    trainer.fit(labelled(3))
    assert plugin.events == [
        ("batches", 0, 0, 3),
        ("epoch_start", 0),
        ("first fetch",),  # the loader is iterated after on_epoch_start
        ("step", 2),
        ("step", 1),
        ("step", 0),
        ("batches_end", True, 3),
    ]


def test_a_wrapper_of_make_epoch_batches_wraps_the_answer() -> None:
    seen: list[int] = []

    class Count:
        @ut.hookimpl(wrapper=True)
        def make_epoch_batches(
            self, state: ut.State, loader: object, batches: Iterable[Any]
        ) -> Generator[None, Iterable[Any] | None, Iterable[Any]]:
            inner = yield

            def counted() -> Iterator[Any]:
                for batch in batches if inner is None else inner:
                    seen.append(int(batch[0][0, 0]))
                    yield batch

            return counted()

    reverse = Reversed()
    trainer = ut.Trainer(make_task(), plugins=[Count(), reverse], max_epochs=1, device="cpu")
    trainer.fit(labelled(3))
    assert seen == [2, 1, 0]


@pytest.mark.parametrize(
    ("options", "exhausted", "done"),
    [({"max_epochs": 1}, True, 4), ({"max_steps": 2}, False, 2)],
    ids=["ran-out", "max-steps"],
)
def test_on_train_batches_end_says_whether_the_batches_ran_out(
    options: dict[str, int], exhausted: bool, done: int
) -> None:
    plugin = Reversed()
    ut.Trainer(make_task(), plugins=[plugin], device="cpu", **options).fit(labelled(4))
    assert plugin.events[-1] == ("batches_end", exhausted, done)


def test_a_stop_in_on_epoch_start_draws_no_batch() -> None:
    plugin = Reversed()

    class Stop:
        def on_epoch_start(self, state: ut.State) -> None:
            state.request_stop("now")

    ut.Trainer(make_task(), plugins=[plugin, Stop()], max_epochs=2, device="cpu").fit(labelled(2))
    assert plugin.events == [("batches", 0, 0, 2), ("epoch_start", 0), ("batches_end", False, 0)]


def test_on_before_save_checkpoint_fires_before_the_engine_entries() -> None:
    seen: list[list[str]] = []

    class Keys:
        def on_before_save_checkpoint(self, state: ut.State, checkpoint: dict[str, Any]) -> None:
            seen.append(sorted(checkpoint))
            checkpoint["plugins"]["keys"] = {"before": True}

        def on_save_checkpoint(self, state: ut.State, checkpoint: dict[str, Any]) -> None:
            seen.append(sorted(checkpoint))

    trainer = ut.Trainer(make_task(), plugins=[Keys()], max_epochs=1, device="cpu")
    trainer.fit(make_batches(1))
    saved = trainer.state_dict()
    assert "model" not in seen[0] and "data_order" in seen[0]  # exact resume's came first
    assert {"model", "optimizers", "schedulers", "position"} <= set(seen[1])
    assert saved["plugins"]["keys"] == {"before": True}


def test_on_before_load_checkpoint_refuses_before_anything_is_loaded() -> None:
    class Refuse:
        def on_before_load_checkpoint(self, state: ut.State, checkpoint: dict[str, Any]) -> None:
            raise ut.CheckpointError("not this one")

    source = ut.Trainer(make_task(), max_epochs=1, device="cpu")
    source.fit(make_batches(2))
    trainer = ut.Trainer(make_task(lr=0.5), plugins=[Refuse()], max_epochs=1, device="cpu")
    assert trainer.state.model is not None
    before = [p.detach().clone() for p in trainer.state.model.parameters()]
    with pytest.raises(ut.CheckpointError, match="not this one"):
        trainer.load_state_dict(source.state_dict())
    after = list(trainer.state.model.parameters())
    assert all(torch.equal(a, b) for a, b in zip(before, after, strict=True))
    assert trainer.state.optimizers == () and trainer.state.global_step == 0


def test_on_predict_step_start_opens_each_prediction_step() -> None:
    events: list[tuple[str, int]] = []

    class Steps:
        def on_predict_step_start(self, state: ut.State, batch: Any) -> None:
            events.append(("start", state.batch_idx))

        def on_predict_step_end(self, state: ut.State) -> None:
            events.append(("end", state.batch_idx))

    trainer = ut.Trainer(make_task(), plugins=[Steps()], max_epochs=1, device="cpu")
    trainer.predict(make_batches(2))
    assert events == [("start", 0), ("end", 0), ("start", 1), ("end", 1)]


def test_the_engine_alone_trains_as_the_trainer_does() -> None:
    # no exact resume, no distributed plugin: the engine has only what it was given
    engine = Engine(make_task(), max_epochs=2, accumulation=2, device="cpu")
    assert [record.name for record in engine.plugins] == ["task"]
    engine.fit(make_batches(3))
    trainer = ut.Trainer(make_task(), max_epochs=2, accumulation=2, device="cpu")
    trainer.fit(make_batches(3))
    assert engine.state.model is not None and trainer.state.model is not None
    pairs = zip(engine.state.model.parameters(), trainer.state.model.parameters(), strict=True)
    assert all(torch.equal(a, b) for a, b in pairs)
    assert engine.state.global_step == trainer.state.global_step == 4
    saved = engine.state_dict()
    assert "data_order" not in saved and saved["position"]["epoch"] == 2


def test_the_trainer_registers_its_extensions_at_construction() -> None:
    trainer = ut.Trainer(make_task(), max_epochs=1, device="cpu")
    names = [record.name for record in trainer.plugins]
    assert names == ["task", "exact_resume", "distributed"]
    trainer.fit(make_batches(1))
    assert [record.name for record in trainer.plugins] == names  # none added by the fit
