"""The task reads each loss's ``loss_reweight`` at every step through a source found once per
loss and fit (``TaskBase.loss_weight``): the instance's own value, else its class's, else 1.0.
(tests/tasks/test_one_step.py anneals both values step by step.) What the source may not
change: losses swapped mid-fit, losses that cannot be hashed, plain functions, and a class
that only gains a ``loss_reweight`` later (counted from the next fit, as documented)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

import unitrain as ut
from tests.conftest import make_batches, make_model
from unitrain.tasks.base import weight_source


class Weights:
    """Records the weight of every loss at each step's end."""

    def __init__(self) -> None:
        self.seen: list[dict[str, float]] = []

    def on_train_step_end(self, state: ut.State, batch: Any, result: ut.StepResult) -> None:
        self.seen.append({name: weight for name, (weight, _) in result.losses.items()})


def _fit(task: ut.Task, *plugins: object, batches: int = 3) -> Weights:
    weights = Weights()
    ut.Trainer(task, plugins=[weights, *plugins], max_epochs=1, device="cpu").fit(
        make_batches(batches)
    )
    return weights


def _sgd(params: Any) -> torch.optim.Optimizer:
    return torch.optim.SGD(params, lr=0.1)


@dataclass(eq=True)
class Unhashable:
    """A loss with ``__eq__`` and so no ``__hash__``: it cannot key a dict."""

    loss_reweight: float = 0.5

    def __call__(self, outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return nn.functional.cross_entropy(outputs, targets)


def test_a_loss_that_cannot_be_hashed_is_weighted() -> None:
    loss = Unhashable()
    weights = _fit(ut.Task(make_model(), losses={"ce": loss}, optimizer=_sgd))  # type: ignore[dict-item]
    assert weights.seen == [{"ce": 0.5}] * 3


def test_a_plain_function_gains_a_weight_at_the_next_step() -> None:
    def l1(outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return outputs.abs().mean()

    class Anneal:
        def on_train_step_end(self, state: ut.State, batch: Any, result: Any) -> None:
            l1.loss_reweight = 0.1 * (state.batch_idx + 1)  # type: ignore[attr-defined]

    weights = _fit(ut.Task(make_model(), losses={"l1": l1}, optimizer=_sgd), Anneal())
    assert [seen["l1"] for seen in weights.seen] == [1.0, 0.1, 0.2]


def test_a_loss_swapped_mid_fit_is_weighted_by_its_own_value() -> None:
    first, second = nn.CrossEntropyLoss(), nn.CrossEntropyLoss()
    second.loss_reweight = 0.25  # type: ignore[assignment]
    task = ut.Task(make_model(), losses={"ce": first}, optimizer=_sgd)

    class Swap:
        def on_train_step_end(self, state: ut.State, batch: Any, result: Any) -> None:
            task.losses["ce"] = second if state.batch_idx == 0 else first

    weights = _fit(task, Swap())
    assert [seen["ce"] for seen in weights.seen] == [1.0, 0.25, 1.0]


class Late(nn.Module):
    """A loss class that has no ``loss_reweight`` when the first fit starts."""

    def forward(self, outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return nn.functional.cross_entropy(outputs, targets)


def test_a_class_that_gains_a_weight_counts_from_the_next_fit() -> None:
    task = ut.Task(make_model(), losses={"late": Late()}, optimizer=_sgd)

    class Gain:
        def on_train_step_end(self, state: ut.State, batch: Any, result: Any) -> None:
            Late.loss_reweight = 0.5  # type: ignore[attr-defined]

    try:
        weights = Weights()
        for _ in range(2):  # two fits of the same task
            trainer = ut.Trainer(task, plugins=[weights, Gain()], max_epochs=1, device="cpu")
            trainer.fit(make_batches(2))
    finally:
        del Late.loss_reweight  # type: ignore[attr-defined]
    assert [seen["late"] for seen in weights.seen] == [1.0, 1.0, 0.5, 0.5]


def test_the_source_names_the_instance_dict_and_a_class_that_defines_the_weight() -> None:
    class Weighted(nn.Module):
        loss_reweight = 2.0

    plain, weighted = nn.MSELoss(), Weighted()
    assert weight_source(plain) == (plain.__dict__, None)
    own, kind = weight_source(weighted)
    assert own is weighted.__dict__ and kind is Weighted
    assert weight_source(torch.sum)[1] is None  # a builtin has no __dict__ of its own


@settings(max_examples=25, deadline=None)
@given(
    values=st.lists(
        st.one_of(
            st.none(), st.just("None"), st.integers(0, 3), st.floats(0.0, 2.0, allow_nan=False)
        ),
        min_size=1,
        max_size=5,
    ),
    class_weight=st.one_of(st.none(), st.floats(0.125, 2.0)),
)
def test_every_step_reads_the_documented_weight(
    values: list[float | int | str | None], class_weight: float | None
) -> None:
    """The flat step reads a weight without calling ``loss_weight`` when the loss's class
    defines none: whatever the instance holds at each step, the weight is its own value as a
    float, else (absent, or set to None) its class's, else 1.0."""

    class Loss(nn.Module):
        def forward(self, outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
            return nn.functional.cross_entropy(outputs, targets)

    if class_weight is not None:
        Loss.loss_reweight = class_weight  # type: ignore[attr-defined]
    loss = Loss()

    class Set:
        def on_train_step_start(self, state: ut.State, batch: Any) -> None:
            value = values[state.batch_idx]
            if value is None:
                loss.__dict__.pop("loss_reweight", None)
            else:  # "None": the attribute set to None
                loss.loss_reweight = None if value == "None" else value  # type: ignore[assignment]

    task = ut.Task(make_model(), losses={"l": loss}, optimizer=_sgd)
    weights = _fit(task, Set(), batches=len(values))
    fallback = 1.0 if class_weight is None else class_weight
    expected = [fallback if value in (None, "None") else float(value) for value in values]
    seen = [step["l"] for step in weights.seen]
    assert seen == expected
    assert all(type(weight) is float for weight in seen)
