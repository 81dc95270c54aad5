"""An epoch cut short by ``max_steps``: a resume with a larger ``max_steps`` continues it."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import torch

import unitrain as ut
from tests.runs.trainkit import assert_same, make_data, make_trainer, snapshot
from unitrain.errors import CheckpointError
from unitrain.plugins.checkpoint import Checkpoint
from unitrain.runs.checkpoint import load_checkpoint, newest_valid


class Epochs:
    """Records the epoch events, to check that every start has its end."""

    def __init__(self) -> None:
        self.events: list[tuple[str, int]] = []

    def on_epoch_start(self, state: ut.State) -> None:
        self.events.append(("start", state.epoch))

    def on_epoch_end(self, state: ut.State) -> None:
        self.events.append(("end", state.epoch))


@pytest.mark.parametrize("accumulation", [1, 2])
def test_a_resume_after_max_steps_continues_the_cut_epoch(
    tmp_path: Path, accumulation: int
) -> None:
    # 6 batches per epoch: step 3 (accumulation 1) or 2 (accumulation 2, batch 4) is mid-epoch
    cut, total = (3, 16) if accumulation == 1 else (2, 8)
    straight = make_trainer(accumulation=accumulation, max_steps=total)
    straight.fit(make_data(), eval_data=make_data())  # an epoch-end evaluation draws RNG too

    first = make_trainer([Checkpoint(tmp_path)], accumulation=accumulation, max_steps=cut)
    first.fit(make_data(), eval_data=make_data())
    saved, _ = newest_valid(tmp_path)
    assert saved is not None
    order = load_checkpoint(saved)["state"]["data_order"]
    assert (order["epoch"], order["batches_done"], order["cut"]) == (0, cut * accumulation, True)

    events = Epochs()
    resumed = make_trainer(
        [Checkpoint(tmp_path), events], accumulation=accumulation, max_steps=total
    )
    resumed.fit(make_data(), eval_data=make_data(), resume="latest")
    assert events.events[:2] == [("start", 0), ("end", 0)]  # the cut epoch, resumed and closed
    assert [kind for kind, _ in events.events] == ["start", "end"] * (len(events.events) // 2)
    assert_same(snapshot(resumed), snapshot(straight))


def test_an_epoch_run_to_its_end_is_not_cut(tmp_path: Path) -> None:
    first = make_trainer([Checkpoint(tmp_path)], max_steps=6)  # exactly one epoch
    first.fit(make_data())
    assert "cut" not in first.state_dict()["data_order"]
    assert first.state_dict()["data_order"]["epoch"] == 1


def test_a_cut_epoch_resumed_with_less_data_is_refused(tmp_path: Path) -> None:
    make_trainer([Checkpoint(tmp_path)], max_steps=5).fit(make_data())
    resumed = make_trainer([Checkpoint(tmp_path)])
    shorter = list(make_data())[:3]
    with pytest.raises(CheckpointError, match=r"after batch 5.*only 3 batches"):
        resumed.fit(shorter, resume="latest")


class StateAt:
    """Takes the trainer's state at a step boundary (before micro-step ``micro_step``), as a
    hand-made checkpointing plugin would."""

    def __init__(self, trainer: ut.Trainer, micro_step: int) -> None:
        self.trainer, self.micro_step = trainer, micro_step
        self.saved: dict[str, object] | None = None

    def on_train_step_start(self, state: ut.State) -> None:
        if state.micro_step == self.micro_step:  # a copy: the state_dict shares the tensors
            self.saved = copy.deepcopy(self.trainer.state_dict())


@pytest.mark.parametrize(
    ("plugins", "setting", "tracked"),
    [
        ([], None, False),
        (["checkpoint"], None, True),
        ([], True, True),
        (["checkpoint"], False, False),
    ],
    ids=["bare", "checkpoint", "forced-on", "forced-off"],
)
def test_fetches_are_tracked_when_a_checkpoint_may_be_written(
    tmp_path: Path, plugins: list[str], setting: bool | None, tracked: bool
) -> None:
    trainer = make_trainer([Checkpoint(tmp_path)] if plugins else [])
    trainer.replay.track_fetches = setting
    spy = StateAt(trainer, 3)
    trainer.add_plugin(spy)
    trainer.fit(make_data())
    assert spy.saved is not None
    before_fetch = spy.saved["data_order"]["before_fetch"]  # type: ignore[index]
    assert all(isinstance(s, torch.Tensor) for s in before_fetch) is tracked
    assert all(s is None for s in before_fetch) is not tracked


def test_a_manual_state_dict_without_tracking_still_resumes_exactly() -> None:
    # what tracking adds is only for data loading that draws from the global RNG; a loader
    # shuffling with its own generator resumes exactly from any mid-epoch state_dict
    straight = make_trainer()
    straight.fit(make_data())
    first = make_trainer()
    spy = StateAt(first, 8)  # epoch 1, batch 2
    first.add_plugin(spy)
    first.fit(make_data())
    assert spy.saved is not None
    resumed = make_trainer(init_seed=5)
    resumed.load_state_dict(spy.saved)
    resumed.fit(make_data())
    assert_same(snapshot(resumed), snapshot(straight))
