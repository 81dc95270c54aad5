"""Parity with hand-written loops: bit-identical without accumulation; with accumulation k,
equal (within float tolerance) to the loop that steps once per window on the whole window."""

from __future__ import annotations

from collections.abc import Callable, Iterable

import pytest
import torch
from torch import nn

import unitrain as ut
from tests.conftest import Batch, Unsized, make_batches, make_model

Factory = Callable[[Iterable[nn.Parameter]], torch.optim.Optimizer]
OPTIMIZERS: dict[str, Factory] = {
    "sgd": lambda params: torch.optim.SGD(params, lr=0.1, momentum=0.9, weight_decay=1e-3),
    "adam": lambda params: torch.optim.Adam(params, lr=0.01),
}


def train_with_unitrain(
    data: object, factory: Factory, accumulation: int = 1, **settings: object
) -> nn.Module:
    model = make_model()
    task = ut.Task(model, loss=nn.CrossEntropyLoss(), optimizer=factory)
    trainer = ut.Trainer(task, accumulation=accumulation, device="cpu", **settings)  # type: ignore[arg-type]
    trainer.fit(data)
    return model


def train_by_hand(batches: list[Batch], factory: Factory, steps: int) -> nn.Module:
    model = make_model()
    optimizer = factory(model.parameters())
    loss_fn = nn.CrossEntropyLoss()
    done = 0
    while done < steps:
        for inputs, targets in batches:
            loss = loss_fn(model(inputs), targets)
            loss.backward()
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            done += 1
            if done == steps:
                break
    return model


def train_large_batches(batches: list[Batch], factory: Factory, k: int, epochs: int) -> nn.Module:
    """One optimizer step per window of ``k`` batches, on the concatenated window (the last
    window of an epoch may be shorter)."""
    model = make_model()
    optimizer = factory(model.parameters())
    for _ in range(epochs):
        for start in range(0, len(batches), k):
            window = batches[start : start + k]
            inputs = torch.cat([x for x, _ in window])
            targets = torch.cat([y for _, y in window])
            nn.functional.cross_entropy(model(inputs), targets).backward()
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
    return model


def assert_bit_identical(a: nn.Module, b: nn.Module) -> None:
    for (name, p), q in zip(a.named_parameters(), b.parameters(), strict=True):
        assert torch.equal(p, q), f"parameter {name} differs"


@pytest.mark.parametrize("optimizer", list(OPTIMIZERS))
def test_bit_identical_to_a_hand_written_loop(optimizer: str) -> None:
    batches = make_batches(3)
    factory = OPTIMIZERS[optimizer]
    ours = train_with_unitrain(batches, factory, max_steps=7)  # crosses two epoch boundaries
    assert_bit_identical(ours, train_by_hand(batches, factory, steps=7))
    assert not torch.equal(next(ours.parameters()), next(make_model().parameters()))


@pytest.mark.parametrize("optimizer", list(OPTIMIZERS))
def test_bit_identical_by_epochs_with_evaluation_and_plugins(optimizer: str) -> None:
    batches = make_batches(3)
    factory = OPTIMIZERS[optimizer]
    model = make_model()
    task = ut.Task(
        model, loss=nn.CrossEntropyLoss(), metrics={"accuracy": ut.accuracy}, optimizer=factory
    )

    class Reader:
        def on_train_step_end(self, state: ut.State, result: ut.StepResult) -> None:
            assert result.loss is not None
            result.loss.item()  # reading values must not change the computation

    trainer = ut.Trainer(task, plugins=[Reader()], max_epochs=2, device="cpu")
    trainer.fit(batches, eval_data=batches)
    assert_bit_identical(model, train_by_hand(batches, factory, steps=6))


@pytest.mark.parametrize("optimizer", list(OPTIMIZERS))
@pytest.mark.parametrize("sized", [True, False], ids=["len", "no-len"])
def test_accumulation_equals_the_large_batch_loop(optimizer: str, sized: bool) -> None:
    batches = make_batches(5)  # windows of 2: [0, 1], [2, 3] and the partial [4]
    factory = OPTIMIZERS[optimizer]
    data = batches if sized else Unsized(batches)
    ours = train_with_unitrain(data, factory, accumulation=2, max_epochs=2)
    reference = train_large_batches(batches, factory, k=2, epochs=2)
    for p, q in zip(ours.parameters(), reference.parameters(), strict=True):
        torch.testing.assert_close(p, q, rtol=1e-5, atol=1e-6)


def test_accumulation_with_limit_train_batches_on_an_unsized_loader() -> None:
    batches = make_batches(6)
    factory = OPTIMIZERS["sgd"]
    ours = train_with_unitrain(
        Unsized(batches), factory, accumulation=3, max_epochs=2, limit_train_batches=4
    )
    reference = train_large_batches(batches[:4], factory, k=3, epochs=2)
    for p, q in zip(ours.parameters(), reference.parameters(), strict=True):
        torch.testing.assert_close(p, q, rtol=1e-5, atol=1e-6)


def test_accumulation_counts_steps_and_micro_steps() -> None:
    for data in (make_batches(5), Unsized(make_batches(5))):
        model = make_model()
        task = ut.Task(model, loss=nn.CrossEntropyLoss(), optimizer=OPTIMIZERS["sgd"])
        state = ut.Trainer(task, accumulation=2, max_epochs=2, device="cpu").fit(data)
        assert (state.global_step, state.micro_step) == (6, 10)
        assert all(p.grad is None for p in model.parameters())  # zeroed after the last step


def test_a_stop_inside_a_window_drops_its_gradients() -> None:
    class StopAtFirstStep:
        def on_train_step_end(self, state: ut.State) -> None:
            if state.micro_step == 1:
                state.request_stop("now")

    model = make_model()
    task = ut.Task(model, loss=nn.CrossEntropyLoss(), optimizer=OPTIMIZERS["sgd"])
    trainer = ut.Trainer(
        task, plugins=[StopAtFirstStep()], accumulation=2, max_epochs=2, device="cpu"
    )
    batches = make_batches(4)
    state = trainer.fit(batches)
    assert (state.micro_step, state.global_step) == (1, 0)
    assert all(p.grad is None for p in model.parameters())
    trainer.fit(batches[2:])  # epoch 1 of 2: one window, which must not see the dropped one
    reference = train_large_batches(batches[2:], OPTIMIZERS["sgd"], k=2, epochs=1)
    for p, q in zip(model.parameters(), reference.parameters(), strict=True):
        torch.testing.assert_close(p, q, rtol=1e-5, atol=1e-6)
