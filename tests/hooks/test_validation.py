"""The registration checks (``unitrain.hooks.validation``): each refusal names the plugin,
what was given and what is expected."""

from __future__ import annotations

import pytest

from unitrain.errors import PluginError
from unitrain.hooks.validation import (
    check_order,
    check_ranks,
    first_parameter,
    snake_case,
    unknown_hook_message,
)


@pytest.mark.parametrize("order", [True, 1.5, "3", None])
def test_an_order_that_is_not_an_int_is_refused(order: object) -> None:
    with pytest.raises(PluginError, match=r"plugin 'p': order must be an int, got"):
        check_order("p", order)


def test_an_int_order_is_kept() -> None:
    assert check_order("p", -7) == -7


@pytest.mark.parametrize("ranks", ["all", "main", 0, 3])
def test_the_rank_rules_are_kept(ranks: object) -> None:
    assert check_ranks("p", ranks) == ranks


@pytest.mark.parametrize(
    ("ranks", "message"),
    [
        (-1, r"device index rank rule must be >= 0, got -1"),
        (True, r"ranks must be 'all', 'main' or a device index \(int\), got True"),
        ("workers", r"got 'workers'"),
    ],
)
def test_a_bad_rank_rule_is_refused(ranks: object, message: str) -> None:
    with pytest.raises(PluginError, match=message):
        check_ranks("p", ranks)


def test_a_misspelt_hook_gets_the_close_names() -> None:
    message = unknown_hook_message("p", "on_train_stp_end")
    assert "plugin 'p' implements 'on_train_stp_end', which is not a unitrain hook" in message
    assert "Did you mean 'on_train_step_end'" in message
    assert "@unitrain.not_a_hook" in message


def test_names_and_parameters() -> None:
    assert snake_case("GradientClipping") == "gradient_clipping"
    assert snake_case("EMA") == "e_m_a"

    def hook(self: object, state: object) -> None: ...

    assert first_parameter(hook) == "self"
    assert first_parameter(lambda: None) is None
