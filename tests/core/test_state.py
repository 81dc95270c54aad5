"""The state: one step vocabulary, documented ownership, stop requests, the typed stash."""

from __future__ import annotations

import dataclasses

import pytest
import torch

import unitrain as ut
from tests.conftest import make_batches, make_task
from unitrain.core import state as state_module


def test_every_field_says_who_owns_it() -> None:
    doc = state_module.__doc__ or ""
    owned, writable = doc.split("**Plugins may write:**")
    for field in dataclasses.fields(ut.State):
        assert f"``{field.name}``" in doc, f"State.{field.name} has no documented owner"
    assert "``grad_scaler``" in writable and "``stash``" in writable
    assert "``global_step``" in owned and "``model``" in owned


def test_defaults() -> None:
    state = ut.State()
    assert (state.phase, state.epoch, state.batch_idx, state.global_step, state.micro_step) == (
        "idle",
        0,
        0,
        0,
        0,
    )
    assert state.device == torch.device("cpu") and state.is_main_process
    assert state.stop_requested is None and state.eval_metrics == {} and len(state.stash) == 0
    assert ut.State().schedulers is not state.schedulers  # no shared mutable defaults


def test_no_attributes_can_be_added() -> None:
    # plugin data goes in the stash, never in ad-hoc attributes
    with pytest.raises(AttributeError):
        ut.State().my_value = 1  # type: ignore[attr-defined]


def test_request_stop() -> None:
    state = ut.State()
    with pytest.raises(ValueError, match="expected 'now' or 'epoch_end'"):
        state.request_stop("later")  # type: ignore[arg-type]
    assert state.stop_requested is None
    state.request_stop("epoch_end", reason="patience")
    assert (state.stop_requested, state.stop_reason) == ("epoch_end", "patience")
    state.request_stop("now", reason="nan")
    assert (state.stop_requested, state.stop_reason) == ("now", "nan")


def test_optimizer_property() -> None:
    state = ut.State()
    with pytest.raises(AttributeError, match="no optimizer was made"):
        _ = state.optimizer
    task = make_task()
    trainer = ut.Trainer(task, max_epochs=1, device="cpu")
    trainer.fit(make_batches(1))
    assert trainer.state.optimizer is trainer.state.optimizers[0]
    assert isinstance(trainer.state.optimizer, torch.optim.SGD)


def test_main_process_is_global_rank_zero() -> None:
    assert ut.State(rank=0, local_rank=1).is_main_process
    assert not ut.State(rank=1, local_rank=0).is_main_process


def test_step_vocabulary_under_accumulation() -> None:
    seen: list[tuple[int, int, int, int, int, bool]] = []

    class Watch:
        def on_train_step_end(self, state: ut.State) -> None:
            seen.append(
                (
                    state.epoch,
                    state.batch_idx,
                    state.micro_step,
                    state.global_step,
                    state.accumulation_window,
                    state.ends_window,
                )
            )

    trainer = ut.Trainer(make_task(), plugins=[Watch()], max_epochs=2, accumulation=2, device="cpu")
    trainer.fit(make_batches(3))
    assert seen == [
        (0, 0, 1, 0, 2, False),
        (0, 1, 2, 1, 2, True),
        (0, 2, 3, 2, 1, True),
        (1, 0, 4, 2, 2, False),
        (1, 1, 5, 3, 2, True),
        (1, 2, 6, 4, 1, True),
    ]
    assert trainer.state.epoch_length == 3


KEY = ut.StashKey[int]("count")


def test_stash_is_typed_and_keyed_by_identity() -> None:
    stash = ut.Stash()
    other = ut.StashKey[int]("count")
    assert KEY not in stash and stash.get(KEY) is None and stash.get(KEY, 5) == 5
    stash[KEY] = 1
    assert stash[KEY] == 1 and KEY in stash and other not in stash
    with pytest.raises(KeyError):
        stash[other]
    assert stash.setdefault(KEY, 9) == 1 and stash.setdefault(other, 9) == 9
    assert len(stash) == 2
    del stash[KEY]
    assert KEY not in stash and repr(KEY) == "StashKey('count')"
