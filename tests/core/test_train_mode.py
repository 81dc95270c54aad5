"""Every epoch trains in training mode: the loop calls ``model.train()`` unless every module
already trains and none overrides ``train`` (then the call would change nothing)."""

from __future__ import annotations

from typing import Any

import pytest
import torch
from torch import nn

import unitrain as ut
from tests.conftest import make_batches
from unitrain.core.loop import enter_train_mode


class Modes:
    """Records, at every step, whether each module of the model trains."""

    def __init__(self) -> None:
        self.seen: list[tuple[bool, ...]] = []

    def on_train_step_start(self, state: ut.State) -> None:
        assert state.model is not None
        self.seen.append(tuple(module.training for module in state.model.modules()))


class EvalAtEpochEnd:
    """Leaves a submodule in eval mode after every epoch (as a careless plugin might)."""

    def on_epoch_end(self, state: ut.State) -> None:
        assert state.model is not None
        state.model[1].eval()


def _model() -> nn.Sequential:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(3, 4), nn.Dropout(0.5), nn.Linear(4, 2))


def _fit(model: nn.Module, *plugins: object, epochs: int = 3, evaluate: bool = True) -> Modes:
    modes = Modes()
    task = ut.Task(model, loss=nn.CrossEntropyLoss(), optimizer=lambda p: torch.optim.SGD(p, 0.1))
    trainer = ut.Trainer(task, plugins=[modes, *plugins], max_epochs=epochs, device="cpu")
    trainer.fit(make_batches(2), eval_data=make_batches(1) if evaluate else None)
    return modes


def test_every_step_of_every_epoch_trains_in_training_mode() -> None:
    model = _model().eval()  # handed over in eval mode
    modes = _fit(model, EvalAtEpochEnd())
    assert len(modes.seen) == 6
    assert all(all(flags) for flags in modes.seen)


def test_a_module_in_eval_mode_is_put_back(monkeypatch: pytest.MonkeyPatch) -> None:
    model = _model()
    calls: list[bool] = []
    real = model.train

    def counted(mode: bool = True) -> nn.Module:
        calls.append(mode)
        return real(mode)

    monkeypatch.setattr(model, "train", counted)  # on the instance: the class stays nn's
    enter_train_mode(model)  # already training, nothing overridden: no call
    assert calls == []
    model[2].training = False
    enter_train_mode(model)  # one submodule in eval mode: the whole model's train()
    assert calls == [True] and model[2].training


class FrozenNorm(nn.Sequential):
    """Overrides ``train`` to keep its norm layer in eval mode (a common fine-tuning trick)."""

    def train(self, mode: bool = True) -> FrozenNorm:
        super().train(mode)
        self[1].eval()
        return self


def test_a_frozen_layer_stays_frozen_in_every_step() -> None:
    torch.manual_seed(0)
    model = FrozenNorm(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.Linear(4, 2))
    modes = _fit(model)
    assert len(modes.seen) == 6
    assert all(flags == (True, True, False, True) for flags in modes.seen)


class Counted(nn.Sequential):
    """Overrides ``train`` and leaves every module training: only the override tells the
    loop that calling it may matter."""

    def __init__(self, *modules: nn.Module) -> None:
        super().__init__(*modules)
        self.calls: list[bool] = []

    def train(self, mode: bool = True) -> Counted:
        self.calls.append(mode)
        return super().train(mode)


def test_an_overridden_train_runs_every_epoch() -> None:
    torch.manual_seed(0)
    model = Counted(nn.Linear(3, 4), nn.Linear(4, 2))
    _fit(model, evaluate=False)  # no evaluation, whose end also calls train()
    assert model.calls == [True, True, True]  # each epoch's start


def test_a_child_set_to_none_is_skipped() -> None:
    model: Any = _model()
    model.register_module("gone", None)
    enter_train_mode(model)
    model[0].eval()
    enter_train_mode(model)
    assert model[0].training
