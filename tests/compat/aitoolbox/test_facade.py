"""``train_loop_obj`` reads and writes the engine's one state."""

from __future__ import annotations

import pytest

import unitrain as ut
from tests.compat.aitoolbox._tiny import make_batches, make_loop
from unitrain.compat.aitoolbox import AbstractCallback


class Counters(AbstractCallback):
    def __init__(self) -> None:
        super().__init__("counters")
        self.rows: list[tuple[str, int, int, int]] = []

    def _row(self, hook: str) -> None:
        loop = self.train_loop_obj
        self.rows.append((hook, loop.epoch, loop.iteration, loop.total_iteration_idx))
        assert loop.epoch == loop.state.epoch
        if hook.startswith("batch"):
            assert loop.iteration == loop.state.batch_idx

    def on_train_begin(self) -> None:
        self._row("train_begin")

    def on_batch_begin(self) -> None:
        self._row("batch_begin")

    def on_batch_end(self) -> None:
        self._row("batch_end")

    def on_epoch_end(self) -> None:
        self._row("epoch_end")


def test_counters_are_views_of_the_state() -> None:
    counters = Counters()
    make_loop(train=make_batches(count=2), val=None).fit(num_epochs=2, callbacks=[counters])
    assert counters.rows == [
        ("train_begin", 0, 0, -1),  # aitoolbox starts total_iteration_idx at -1
        ("batch_begin", 0, 0, 0),
        ("batch_end", 0, 0, 0),
        ("batch_begin", 0, 1, 1),
        ("batch_end", 0, 1, 1),
        ("epoch_end", 0, 1, 1),
        ("batch_begin", 1, 0, 2),
        ("batch_end", 1, 0, 2),
        ("batch_begin", 1, 1, 3),
        ("batch_end", 1, 1, 3),
        ("epoch_end", 1, 1, 3),
    ]


class StopAt(AbstractCallback):
    def __init__(self, epoch: int, hook: str = "epoch_end") -> None:
        super().__init__("stop")
        self.epoch, self.hook = epoch, hook
        self.requests: list[tuple[str | None, str]] = []

    def on_batch_end(self) -> None:
        if self.hook == "batch_end" and self.train_loop_obj.epoch == self.epoch:
            self.train_loop_obj.early_stop = True

    def on_epoch_end(self) -> None:
        loop = self.train_loop_obj
        if self.hook == "epoch_end" and loop.epoch == self.epoch:
            loop.early_stop = True
            self.requests.append((loop.state.stop_requested, loop.state.stop_reason))


def test_early_stop_is_a_stop_request_at_epoch_end() -> None:
    stop = StopAt(1)
    loop = make_loop(val=None)
    loop.fit(num_epochs=5, callbacks=[stop])
    assert stop.requests == [("epoch_end", "aitoolbox early_stop")]
    assert loop.early_stop and loop.epoch == 1 and loop.state.micro_step == 8


def test_early_stop_set_mid_epoch_finishes_the_epoch() -> None:
    loop = make_loop(val=None)
    loop.fit(num_epochs=5, callbacks=[StopAt(0, "batch_end")])
    assert loop.state.micro_step == 4 and len(loop.train_history["loss"]) == 1


def test_early_stop_can_be_taken_back() -> None:
    class Undo(AbstractCallback):
        def on_epoch_end(self) -> None:
            self.train_loop_obj.early_stop = False

    loop = make_loop(val=None)
    undo = Undo("undo", execution_order=100)
    loop.fit(num_epochs=2, callbacks=[StopAt(0), undo])
    assert loop.epoch == 1 and not loop.early_stop


def test_other_stop_requests_are_not_taken_back() -> None:
    class Native:
        def on_epoch_end(self, state: ut.State) -> None:
            state.request_stop("epoch_end", reason="native")

    class Undo(AbstractCallback):
        def on_epoch_end(self) -> None:
            self.train_loop_obj.early_stop = False

    loop = make_loop(val=None)
    loop.fit(num_epochs=3, callbacks=[Native(), Undo("undo", execution_order=5)])
    assert loop.epoch == 0 and loop.state.stop_reason == "native"


def test_engine_attributes_and_state_before_fit() -> None:
    loop = make_loop()
    assert loop.epoch == 0 and loop.total_iteration_idx == -1
    assert not loop.amp_scaler.is_enabled()  # aitoolbox's idle scaler
    assert loop.is_main_process() and not loop.ddp_training_mode and loop.ddp_rank == 0
    with pytest.raises(ut.StateError, match="no engine state yet"):
        _ = loop.state
    loop.fit(num_epochs=1)
    assert str(loop.device) == "cpu" and loop.optimizers() == [loop.optimizer]
    assert (
        loop.loss_batch_accum == pytest.approx([float(t) for t in loop.loss_accum_tensors])
        and len(loop.loss_batch_accum) == 4
    )
