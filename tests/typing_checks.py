"""Checked by mypy (see pyproject's ``[tool.mypy] files``), never run: the public API's types."""

from __future__ import annotations

from typing import Any, assert_type

import torch

import unitrain as ut
from unitrain.core.engine import Engine
from unitrain.core.running import Running
from unitrain.hooks.specs import Hooks
from unitrain.plugins import MetricsLog


def check_public_types(model: torch.nn.Module, loader: list[Any]) -> None:
    task = ut.Task(model, loss=torch.nn.CrossEntropyLoss(), metrics={"accuracy": ut.accuracy})
    trainer = ut.Trainer(task, max_epochs=1, plugins=[MetricsLog("m.jsonl")])
    assert_type(trainer.fit(loader), ut.State)
    assert_type(trainer.evaluate(loader), dict[str, float])
    assert_type(trainer.predict(loader), list[Any])
    assert_type(trainer.add_plugin(object()), str | None)
    state = trainer.state
    assert_type(state.global_step, int)
    assert_type(state.eval_metrics, dict[str, dict[str, float]])
    # the typed facade: hook names and arguments are checked against the spec
    trainer.hooks.on_fit_start(state)
    trainer.hooks.on_eval_end(state, "val", {"loss": 0.1})
    assert_type(trainer.hooks.run_prepare_batch(state, loader[0]), Any)
    key = ut.StashKey[float]("best")
    state.stash[key] = 0.5
    assert_type(state.stash[key], float)


def check_the_engine_is_what_the_loop_runs(engine: Engine, trainer: ut.Trainer) -> None:
    # the loop's modules name a Protocol, not the engine class: both engines satisfy it
    running: Running = engine
    running = trainer
    assert_type(running.hooks, Hooks)
