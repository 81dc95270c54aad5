"""Tests of the epoch-timer plugin, written with unitrain's pytest plugin (unitrain.testing).

The fixtures ``tiny_task``, ``tiny_data`` and ``event_recorder`` come from unitrain itself,
through its ``pytest11`` entry point: nothing to import or configure.
"""

from __future__ import annotations

import logging

import pytest
from unitrain_epoch_timer import EpochTimer

import unitrain as ut
from unitrain.hooks.entrypoints import discover


def test_one_time_per_epoch_and_events_in_order(tiny_task, tiny_data, event_recorder, caplog):
    timer = EpochTimer()
    trainer = ut.Trainer(tiny_task, max_epochs=3, device="cpu", plugins=[timer, event_recorder])
    with caplog.at_level(logging.INFO, logger="unitrain.ext.epoch_timer"):
        trainer.fit(tiny_data)
    assert len(timer.seconds) == 3 and all(s > 0 for s in timer.seconds)
    assert [r.getMessage().split(" took")[0] for r in caplog.records] == [
        "epoch 1",
        "epoch 2",
        "epoch 3",
    ]
    event_recorder.assert_matches(
        r"fit_start (epoch_start (train_step_start (after_backward before_optimizer_step "
        r"after_optimizer_step )?train_step_end )+train_batches_end epoch_end ){3}fit_end "
    )


def test_times_survive_a_checkpoint(tiny_task, tiny_data):
    trainer = ut.Trainer(tiny_task, max_epochs=2, device="cpu", plugins=[EpochTimer()])
    trainer.fit(tiny_data)
    checkpoint = trainer.state_dict()
    assert len(checkpoint["plugins"]["epoch-timer"]["seconds"]) == 2
    restored = EpochTimer()
    restored.on_load_checkpoint(trainer.state, checkpoint)
    assert restored.seconds == checkpoint["plugins"]["epoch-timer"]["seconds"]


def test_bad_option_is_refused():
    with pytest.raises(ValueError, match="log_every=-1"):
        EpochTimer(log_every=-1)


def test_installed_under_its_entry_point():
    (entry,) = discover()["epoch-timer"]
    assert (entry.distribution, entry.value) == (
        "unitrain-epoch-timer",
        "unitrain_epoch_timer:EpochTimer",
    )
