"""Error attribution (``unitrain.hooks.blame``): the implementation whose frame is outermost
in a traceback, told apart by instance when several plugins share a class."""

from __future__ import annotations

from typing import Any

import pluggy
import pytest

import unitrain as ut
from unitrain.hooks.blame import describe_position, find_culprit
from unitrain.hooks.manager import PluginManager


class Raises:
    def __init__(self, fail: bool) -> None:
        self.fail = fail

    def on_fit_start(self, state: Any) -> None:
        if self.fail:
            raise ValueError("no")


def _impls(manager: PluginManager) -> list[pluggy.HookImpl]:
    return manager.implementations("on_fit_start")


def test_the_instance_that_raised_is_named_among_two_of_one_class() -> None:
    manager = PluginManager()
    quiet, loud = Raises(False), Raises(True)
    manager.register(quiet, name="quiet")
    manager.register(loud, name="loud")
    with pytest.raises(ValueError) as caught:
        quiet.on_fit_start(None)
        loud.on_fit_start(None)
    found = find_culprit(caught.value, _impls(manager))
    assert found is not None and found[0] == "loud"


def test_an_error_from_no_implementation_is_nobody_s() -> None:
    manager = PluginManager()
    manager.register(Raises(True), name="r")
    try:
        raise ValueError("elsewhere")
    except ValueError as error:
        assert find_culprit(error, _impls(manager)) is None


def test_the_position_names_phase_epoch_and_steps() -> None:
    assert describe_position(None) == "no step yet"
    state = ut.State()
    state.phase, state.epoch, state.batch_idx, state.global_step = "fit", 1, 3, 11
    assert describe_position(state) == "phase fit, epoch 1, batch_idx 3, global_step 11"
