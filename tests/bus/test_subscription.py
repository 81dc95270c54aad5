"""Subscriptions: tag filters, subsampling per (key, kind), complete synchronized bundles."""

from __future__ import annotations

from typing import Any

import pytest
import torch

from unitrain.bus import StepBundles, Subscriber, Subscription, SynchronizedSubscription
from unitrain.errors import ConfigError


class Keep(Subscriber):
    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.items: list[Any] = []

    def compute(self, message_or_bundle: Any) -> None:
        self.items.append(message_or_bundle)


def step(n: int, with_grad: bool = True) -> StepBundles:
    bundles = StepBundles(n, n, 0)
    for name in ("a", "b"):
        bundles.publish("weights", torch.ones(1), name)
        if with_grad or name == "a":
            bundles.publish("weight_gradients", torch.ones(1), name)
    bundles.publish("weights", torch.ones(1), "a", tag="testing")
    return bundles


def test_subsample_counts_each_key_and_kind() -> None:
    keep = Keep(kinds="weights", subsample=2)
    for n in range(4):
        keep.receive_bundles(step(n))
    assert [(m.global_step, m.module_name) for m in keep.items] == [
        (0, "a"),
        (0, "b"),
        (2, "a"),
        (2, "b"),
    ]


def test_tag_filter_selects_side_channels() -> None:
    default, testing, every = (
        Keep(kinds="weights"),
        Keep(kinds="weights", tag="testing"),
        Keep(kinds="weights", tag=None),
    )
    for keep in (default, testing, every):
        keep.receive_bundles(step(0))
    assert len(default.items) == 2 and len(testing.items) == 1 and len(every.items) == 3
    assert testing.items[0].tag == "testing"


def test_synchronized_subscription_delivers_only_complete_bundles() -> None:
    keep = Keep(kinds=("weights", "weight_gradients"), synchronized=True)
    keep.receive_bundles(step(0, with_grad=False))
    assert [b.key for b in keep.items] == ["a"]
    assert keep.items[0].complete() and set(keep.items[0].data) == {"weights", "weight_gradients"}


def test_several_subscriptions_and_bad_arguments() -> None:
    keep = Keep(
        subscriptions=[Subscription(None, "weights"), SynchronizedSubscription(None, ["weights"])]
    )
    assert keep.kinds == ("weights",)
    keep.receive_bundles(step(0))
    assert len(keep.items) == 4
    with pytest.raises(ConfigError, match="subsample"):
        Subscription(None, "weights", subsample=0)
    with pytest.raises(ConfigError, match="non-empty"):
        Subscription(None, [])
    other = Keep(kinds="weights")
    with pytest.raises(ConfigError, match="belongs to"):
        Keep(subscriptions=other.subscriptions)
