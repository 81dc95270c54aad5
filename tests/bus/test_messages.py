"""Messages, bundles and the step collection handed to ``on_bus_bundles``."""

from __future__ import annotations

import pytest
import torch

from unitrain.bus import META, Message, MessageBundle, ModuleKey, StepBundles, Subscriber
from unitrain.errors import BusError


def msg(kind: str, module: str | None = None, step: int = 0, tag: str = "default") -> Message:
    return Message(kind, torch.ones(2), step, step, 0, module, tag)


def test_bundle_completes_when_every_expected_kind_arrived() -> None:
    bundle = MessageBundle(["weights", "weight_gradients"])
    bundle.add_message(msg("weights", "fc"))
    assert not bundle.complete()
    bundle.add_message(msg("weight_gradients", "fc"))
    assert bundle.complete()
    assert bundle.key == "fc" and bundle.kinds == ("weights", "weight_gradients")
    assert torch.equal(bundle.weights, torch.ones(2)) and "weights" in bundle


def test_bundle_refuses_other_steps_keys_duplicates_and_unexpected_kinds() -> None:
    bundle = MessageBundle(["weights", "biases"])
    bundle.add_message(msg("weights", "fc", step=1))
    with pytest.raises(BusError, match="does not belong"):
        bundle.add_message(msg("biases", "fc", step=2))
    with pytest.raises(BusError, match="does not belong"):
        bundle.add_message(msg("biases", "other", step=1))
    with pytest.raises(BusError, match="already has"):
        bundle.add_message(msg("weights", "fc", step=1))
    with pytest.raises(BusError, match="expects kinds"):
        bundle.add_message(msg("activations", "fc", step=1))
    with pytest.raises(AttributeError, match="has no kind 'biases'"):
        _ = bundle.biases


def test_module_key_is_a_string_that_carries_its_module() -> None:
    layer = torch.nn.Linear(1, 1)
    key = ModuleKey("features.0", layer)
    assert key == "features.0" and {key: 1}["features.0"] == 1
    assert key.name == "features.0" and key.module is layer


def test_step_bundles_group_by_key_meta_first_and_index_by_kind_and_tag() -> None:
    bundles = StepBundles(3, 1, 0)
    bundles.publish("activations", torch.zeros(1), "fc")
    bundles.publish("loss", torch.zeros(()))
    bundles.publish("activations", torch.zeros(1), "out")
    bundles.publish("activations", torch.zeros(1), "fc", tag="testing")
    assert [b.key for b in bundles] == [META, "fc", "out", "fc"]
    assert [m.module_name for m in bundles.messages("activations")] == ["fc", "out"]
    assert [m.tag for m in bundles.messages("activations", tag=None)].count("testing") == 1
    assert bundles.bundle("fc", tag="testing") is not None and bundles.bundle("nope") is None
    assert [m.kind for m in bundles.all_messages()][:2] == ["activations", "loss"]
    with pytest.raises(BusError, match="for step 4"):
        bundles.add(msg("loss", step=4))


class Producer(Subscriber):
    def __init__(self, source: str, topic: str, log: list[str]) -> None:
        super().__init__(source)
        self.topic, self.log = topic, log
        self._add_publication(topic)

    def process_messages(self, items: list[Message]) -> None:
        self.log.append(self.topic)
        for message in items:
            self.publish(self.topic, message.data * 2, message.module_name)


def test_delivery_runs_producers_before_consumers_once_and_detects_cycles() -> None:
    log: list[str] = []
    first = Producer("activations", "a2", log)
    second = Producer("a2", "a4", log)
    producers = {"a2": first, "a4": second}
    bundles = StepBundles(0, 0, 0, producers)
    bundles.publish("activations", torch.ones(1), "fc")
    bundles.deliver(second)  # asks for a2 first, whatever the call order
    bundles.deliver(first)  # already delivered: not again
    assert log == ["a2", "a4"]
    assert bundles.messages("a4")[0].data.item() == 4.0
    loop_a, loop_b = Producer("b", "a", log), Producer("a", "b", log)
    cyclic = StepBundles(0, 0, 0, {"a": loop_a, "b": loop_b})
    with pytest.raises(BusError, match="cycle"):
        cyclic.deliver(loop_a)
