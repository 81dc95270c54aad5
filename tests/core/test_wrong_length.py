"""A loader whose ``len()`` is wrong keeps the event grammar: its last window, short or not,
steps inside its last micro-step, and a per-step scheduler sees that optimizer step."""

from __future__ import annotations

from typing import Any

import pytest
import torch

import unitrain as ut
from tests.conftest import Recorder, Unsized, make_batches, make_task
from tests.core.test_event_grammar import WrongLength
from unitrain.plugins import LRScheduler

STEP_EVENTS = {
    "train_step_start": "S",
    "after_backward": "B",
    "before_optimizer_step": "O",
    "after_optimizer_step": "o",
    "train_step_end": "s",
}


def fit(data: object, accumulation: int = 2) -> tuple[str, ut.State, list[torch.Tensor]]:
    recorder = Recorder()
    scheduler = LRScheduler(lambda o: torch.optim.lr_scheduler.StepLR(o, 1), interval="step")
    trainer = ut.Trainer(
        make_task(),
        plugins=[recorder, scheduler],
        max_epochs=1,
        accumulation=accumulation,
        device="cpu",
    )
    state = trainer.fit(data)
    word = "".join(STEP_EVENTS.get(name, "") for name in recorder.names())
    assert state.model is not None
    return word, state, [p.detach().clone() for p in state.model.parameters()]


@pytest.mark.parametrize("claimed", [4, 5, 1, 2], ids=["says-4", "says-5", "says-1", "says-2"])
def test_a_wrong_len_steps_as_no_len_does(claimed: int) -> None:
    data: list[Any] = make_batches(3)
    word, state, weights = fit(WrongLength(data, claimed))
    # two windows: batches 0-1, then batch 2 alone, stepped inside its own step
    assert word == "SBsSBOosSBOos"
    assert state.global_step == 2 and state.micro_step == 3
    assert state.schedulers[0].scheduler.last_epoch == 2  # the short window's step counts
    assert state.epoch_length == 3  # the truth, once the last batch was known
    _, _, reference = fit(Unsized(data))
    assert all(torch.equal(a, b) for a, b in zip(weights, reference, strict=True))


def test_the_epoch_length_is_unknown_while_len_proves_too_small() -> None:
    seen: list[int | None] = []

    class Lengths:
        def on_train_step_start(self, state: ut.State) -> None:
            seen.append(state.epoch_length)

    trainer = ut.Trainer(
        make_task(), plugins=[Lengths()], max_epochs=1, accumulation=2, device="cpu"
    )
    trainer.fit(WrongLength(make_batches(4), 2))
    assert seen == [2, None, None, 4]
