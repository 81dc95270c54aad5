"""RecordingPlugin: records every event, in order, with the loop position."""

from __future__ import annotations

import pytest

import unitrain as ut
from unitrain.hooks.specs import Hooks
from unitrain.testing import Event, RecordingPlugin, tiny_batches, tiny_task


def fit(recorder: RecordingPlugin, **settings) -> ut.Trainer:
    trainer = ut.Trainer(tiny_task(), device="cpu", plugins=[recorder], **settings)
    trainer.fit(tiny_batches(n=16), eval_data=tiny_batches(n=8))
    return trainer


def test_implements_every_event_of_the_spec():
    events = {name for name in dir(Hooks) if name.startswith("on_")}
    assert events <= set(dir(RecordingPlugin))
    manager = ut.PluginManager()
    manager.register(RecordingPlugin())  # the generated signatures pass pluggy's validation
    assert all(manager.implementations(name) for name in events)


def test_records_the_fit_sequence_with_positions():
    recorder = RecordingPlugin(
        only=["fit_start", "epoch_start", "epoch_end", "eval_end", "fit_end"]
    )
    fit(recorder, max_epochs=2)
    recorder.assert_sequence(
        [
            *("fit_start", "epoch_start", "eval_end", "epoch_end"),
            *("epoch_start", "eval_end", "epoch_end", "fit_end"),
        ]
    )
    ends = [e for e in recorder.events if e.name == "eval_end"]
    assert ends == [Event("eval_end", 0, 0, 2, "val"), Event("eval_end", 1, 0, 4, "val")]


def test_assert_matches_checks_the_grammar():
    recorder = RecordingPlugin()
    fit(recorder, max_epochs=2)
    step = (
        r"train_step_start after_backward before_optimizer_step after_optimizer_step "
        r"train_step_end "
    )
    evaluation = r"eval_start (eval_step_start eval_step_end )+eval_end "
    recorder.assert_matches(
        rf"fit_start (epoch_start ({step})+train_batches_end {evaluation}epoch_end ){{2}}fit_end "
    )
    assert recorder.count("on_train_step_end") == 4
    with pytest.raises(AssertionError, match="does not match"):
        recorder.assert_matches(r"fit_start fit_end ")


def test_assert_sequence_shows_where_it_differs():
    recorder = RecordingPlugin(only=["fit_start", "fit_end"])
    fit(recorder, max_steps=1)
    with pytest.raises(AssertionError, match=r"differs at position 1: expected \['epoch_end'\]"):
        recorder.assert_sequence(["fit_start", "epoch_end"])
    recorder.clear()
    assert recorder.names == []
