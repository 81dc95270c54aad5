"""NaN / inf policy (scenarios 15 and 16)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

import unitrain as ut
from tests.conftest import make_batches, make_task
from unitrain.errors import ConfigError, NonFiniteError
from unitrain.plugins.checkpoint import Checkpoint
from unitrain.plugins.nan_guard import NanGuard
from unitrain.runs.checkpoint import load_checkpoint, newest_valid


class PoisonLoss:
    """Makes the loss of one micro step NaN (or inf)."""

    def __init__(self, micro_step: int, value: float = float("nan")) -> None:
        self.micro_step, self.value = micro_step, value

    @ut.hookimpl(wrapper=True)
    def run_forward(self, state: Any, batch: Any) -> Any:
        result = yield
        if state.micro_step == self.micro_step:
            result.loss = result.loss * self.value
        return result


class PoisonGrad:
    """Puts a NaN into one gradient after the backward of one micro step."""

    def __init__(self, micro_step: int) -> None:
        self.micro_step = micro_step

    def on_after_backward(self, state: Any) -> None:
        if state.micro_step == self.micro_step + 1:  # micro_step is counted after backward
            next(state.model.parameters()).grad[0, 0] = float("nan")


def _weights(trainer: ut.Trainer) -> list[torch.Tensor]:
    assert trainer.state.model is not None
    return [p.detach().clone() for p in trainer.state.model.parameters()]


@pytest.mark.parametrize("value", [float("nan"), float("inf")])
def test_raise_stops_before_the_step_with_the_batch_index(tmp_path: Path, value: float) -> None:
    batches = make_batches(count=6)
    before = ut.Trainer(make_task(), max_steps=3, device="cpu")
    before.fit(batches)  # steps 0..2 done: the state just before the bad batch
    guarded = ut.Trainer(
        make_task(),
        plugins=[NanGuard(), PoisonLoss(3, value), Checkpoint(tmp_path, every_n_steps=1)],
        max_epochs=1,
        device="cpu",
    )
    with pytest.raises(NonFiniteError, match=r"epoch 0, batch_idx 3 \(global_step 3\)"):
        guarded.fit(batches)
    assert all(torch.equal(a, b) for a, b in zip(_weights(before), _weights(guarded), strict=True))
    newest, _ = newest_valid(tmp_path)
    assert newest is not None
    assert load_checkpoint(newest)["state"]["position"]["global_step"] == 3


@pytest.mark.parametrize("poison", ["loss", "grads"])
def test_skip_equals_training_without_that_batch(poison: str) -> None:
    batches = make_batches(count=6)
    bad = 2
    without = ut.Trainer(make_task(), max_epochs=2, device="cpu")
    without.fit(_drop(batches, bad))
    guard = NanGuard(policy="skip")
    injector = PoisonLoss(bad) if poison == "loss" else PoisonGrad(bad)
    skipped = ut.Trainer(make_task(), plugins=[guard, injector], max_epochs=2, device="cpu")
    skipped.fit(batches)
    assert guard.skipped == 1 and guard.skipped_at[0]["batch_idx"] == bad
    assert all(torch.equal(a, b) for a, b in zip(_weights(without), _weights(skipped), strict=True))
    assert guard.state_dict() == {"skipped": 1, "skipped_at": guard.skipped_at}


def _drop(batches: list[Any], index: int) -> Any:
    """The same batches with ``index`` left out in the first epoch only."""

    class Epochs:
        def __init__(self) -> None:
            self.epoch = 0

        def __iter__(self) -> Any:
            epoch, self.epoch = self.epoch, self.epoch + 1
            return iter([b for i, b in enumerate(batches) if epoch or i != index])

    return Epochs()


def test_bad_policy_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="'raise' or 'skip'"):
        NanGuard(policy="ignore")  # type: ignore[arg-type]
