"""An epoch cut short by ``max_steps``: a resume with a larger ``max_steps`` continues it."""

from __future__ import annotations

from pathlib import Path

import pytest

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
