"""The message kinds the bus knows, and the registry of derived topics.

Network-level kinds (``module_name is None``, bundle key ``"META"``) describe the step as a
whole; module kinds carry one tensor per tracked module. Subscribers add *derived topics*
(``activations_norm2``, ``train_accuracy`` ...) that other subscribers consume; the registry
remembers which subscriber produces each one so that producers run before consumers.
"""

from __future__ import annotations

from typing import Final, Literal

from unitrain.errors import ConfigError

__all__ = [
    "GRADIENT_KINDS",
    "MODULE_KINDS",
    "MODULE_KIND_ORDER",
    "MODULE_OUTPUT_KINDS",
    "NETWORK_KINDS",
    "PARAMETER_KINDS",
    "TopicRegistry",
    "TopicType",
    "UPDATE_KINDS",
]

TopicType = Literal["DATA", "META"]

NETWORK_KINDS: Final = frozenset(
    {
        "batch_started",
        "batch_finished",
        "epoch_started",
        "epoch_finished",
        "input_data",
        "input_labels",
        "loss",
        "network_output",
    }
)
"""Kinds tied to the network as a whole (ikkuna's ``META_KINDS``)."""

MODULE_KIND_ORDER: Final = (
    "activations",
    "layer_gradients",
    "weight_gradients",
    "bias_gradients",
    "weights",
    "biases",
    "weight_updates",
    "bias_updates",
)
"""The module kinds in the order the taps collect them each step."""

MODULE_KINDS: Final = frozenset(MODULE_KIND_ORDER)
"""Kinds tied to one module, always with tensor data (ikkuna's ``DATA_KINDS``)."""

MODULE_OUTPUT_KINDS: Final = frozenset({"activations", "layer_gradients"})
"""Module kinds read from the module's output (forward hooks, tensor hooks)."""

GRADIENT_KINDS: Final = {"weight_gradients": "weight", "bias_gradients": "bias"}
"""Parameter-gradient kinds and the parameter attribute each reads (post-accumulate hooks)."""

PARAMETER_KINDS: Final = {"weights": "weight", "biases": "bias"}
"""Parameter-value kinds: read when the step's bundles are assembled, no hook needed."""

UPDATE_KINDS: Final = {"weight_updates": "weight", "bias_updates": "bias"}
"""Update kinds: the change one optimizer step made to the parameter."""


class TopicRegistry:
    """Built-in kinds plus the derived topics registered on one bus, with their producers."""

    def __init__(self) -> None:
        self.meta: set[str] = set(NETWORK_KINDS)
        self.data: set[str] = set(MODULE_KINDS)
        self.producers: dict[str, object] = {}

    def __contains__(self, topic: object) -> bool:
        return topic in self.meta or topic in self.data

    def register(self, topic: str, kind: TopicType, producer: object | None = None) -> None:
        """Register ``topic`` as a META or DATA topic, optionally produced by ``producer``."""
        if kind not in ("DATA", "META"):
            raise ConfigError(f"topic {topic!r}: type must be 'DATA' or 'META', got {kind!r}")
        if topic in NETWORK_KINDS or topic in MODULE_KINDS:
            raise ConfigError(
                f"topic {topic!r} is a built-in kind of the bus and cannot be published by a "
                "subscriber; choose another name (e.g. '<kind>_<statistic>')"
            )
        other = self.producers.get(topic)
        if producer is not None and other is not None and other is not producer:
            raise ConfigError(
                f"topic {topic!r} is already published by {other!r}; two subscribers cannot "
                f"publish the same topic ({producer!r}). Give one of them another kind or name"
            )
        (self.meta if kind == "META" else self.data).add(topic)
        if producer is not None:
            self.producers[topic] = producer

    def deregister(self, topic: str) -> None:
        """Forget a derived topic (built-in kinds stay)."""
        if topic in NETWORK_KINDS or topic in MODULE_KINDS:
            raise ConfigError(f"topic {topic!r} is a built-in kind and cannot be deregistered")
        self.meta.discard(topic)
        self.data.discard(topic)
        self.producers.pop(topic, None)

    def check(self, kinds: set[str], who: str) -> None:
        """Raise a clear error when ``who`` subscribes to a topic nobody publishes."""
        unknown = sorted(kind for kind in kinds if kind not in self)
        if unknown:
            known = sorted(self.meta | self.data)
            raise ConfigError(
                f"{who} subscribes to {unknown}, which no kind or registered subscriber "
                f"publishes. Known topics: {known}. Register the producing subscriber too"
            )
