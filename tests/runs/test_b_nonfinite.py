"""Battery: NaN / inf in the loss, the gradients and the weights. NanGuard stops the run naming
the step, and no checkpoint of non-finite weights is ever committed, so ``resume="latest"``
restarts from finite weights.
"""

from __future__ import annotations

import math
from collections.abc import Generator
from pathlib import Path
from typing import Any

import pytest
import torch

from tests.runs.trainkit import make_data, make_trainer
from unitrain.errors import NonFiniteError
from unitrain.hooks.markers import hookimpl
from unitrain.plugins.checkpoint import Checkpoint
from unitrain.plugins.nan_guard import NanGuard
from unitrain.runs.checkpoint import list_checkpoints, load_checkpoint

BAD_STEP = 5  # the optimizer step (1-based) that goes wrong


class BadLoss:
    """Makes the loss of one batch NaN (wraps the forward stage)."""

    name = "bad_loss"

    @hookimpl(wrapper=True)
    def run_forward(self, state: Any) -> Generator[None, Any, Any]:
        result = yield
        if state.global_step + 1 == BAD_STEP and result is not None:
            result.loss = result.loss * math.nan
        return result


class BadGrads:
    """Makes one gradient inf just before the optimizer step."""

    name = "bad_grads"

    def on_after_backward(self, state: Any) -> None:
        if state.global_step + 1 == BAD_STEP:
            param = next(state.model.parameters())
            assert param.grad is not None
            param.grad[0, 0] = math.inf


class BadWeights:
    """Finite loss and gradients; the optimizer step itself makes a weight inf."""

    name = "bad_weights"

    @hookimpl(wrapper=True)
    def run_optimizer_step(self, state: Any) -> Generator[None, Any, Any]:
        result = yield
        if state.global_step + 1 == BAD_STEP:  # global_step counts this step afterwards
            with torch.no_grad():
                next(state.model.parameters())[0, 0] = math.inf
        return result


def _checkpoints_are_finite(folder: Path) -> int:
    found = list_checkpoints(folder)
    for path in found:
        model = load_checkpoint(path)["state"]["model"]
        assert all(torch.isfinite(v).all() for v in model.values()), f"{path} holds NaN/inf"
    return len(found)


@pytest.mark.parametrize(
    ("culprit", "message"),
    [
        (BadLoss(), "the loss is nan"),
        (BadGrads(), "a gradient holds NaN or inf"),
        (BadWeights(), "made weight '0.weight' NaN or inf"),
    ],
    ids=["loss", "gradients", "weights"],
)
def test_nanguard_stops_before_non_finite_weights_are_committed(
    tmp_path: Path, culprit: object, message: str
) -> None:
    plugins = [NanGuard(), Checkpoint(tmp_path, every_n_steps=1, keep_last=None), culprit]
    trainer = make_trainer(plugins)
    with pytest.raises(NonFiniteError, match=message) as info:
        trainer.fit(make_data())
    assert f"global_step {BAD_STEP - 1}" in str(info.value)
    assert _checkpoints_are_finite(tmp_path) == BAD_STEP - 1  # steps 1..4 only
    again = make_trainer([NanGuard(), Checkpoint(tmp_path, every_n_steps=1, keep_last=None)])
    again.fit(make_data(), resume="latest")  # from step 4's finite weights; runs to the end
    assert again.state.global_step == 18
    assert all(torch.isfinite(p).all() for p in again.state.model.parameters())


def test_no_checkpoint_of_non_finite_weights_is_committed_while_nanguard_is_on(
    tmp_path: Path,
) -> None:
    # even a save asked for by hand (not at a step NanGuard watched) is refused
    checkpoint = Checkpoint(tmp_path)
    trainer = make_trainer([NanGuard(check_weights=True), checkpoint], max_epochs=1)
    trainer.fit(make_data())
    with torch.no_grad():
        next(trainer.state.model.parameters())[0, 0] = math.nan
    trainer.state.global_step += 1  # a position not saved yet
    before = [p.name for p in list_checkpoints(tmp_path)]
    with pytest.raises(NonFiniteError, match="refusing to commit a checkpoint"):
        checkpoint.save(trainer.state, "manual")
    assert [p.name for p in list_checkpoints(tmp_path)] == before
