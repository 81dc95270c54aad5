"""Per-module statistics, computed on the device and batched across modules.

Each publishes ``<kind>_<statistic>`` with one 0-dim tensor per module (or per network
message); nothing is read to the host here.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import torch

from unitrain.bus.kinds import NETWORK_KINDS, TopicType
from unitrain.bus.messages import Message, MessageBundle
from unitrain.bus.subscriber import Subscriber
from unitrain.errors import ConfigError

__all__ = [
    "MeanSubscriber",
    "MessageMeanSubscriber",
    "NormSubscriber",
    "RatioSubscriber",
    "StatisticSubscriber",
    "SumSubscriber",
    "VarianceSubscriber",
]


def _float(tensor: Any, where: str) -> torch.Tensor:
    if not isinstance(tensor, torch.Tensor):
        raise ConfigError(f"{where}: expected tensor data, got {type(tensor).__name__}")
    return tensor if tensor.is_floating_point() else tensor.float()


def norms(tensors: list[torch.Tensor], p: float) -> Sequence[torch.Tensor]:
    """The p-norm of each tensor: one batched ``_foreach_norm`` on CUDA (a single kernel per
    dtype), a plain loop elsewhere (on CPU the foreach fallback is slower than the loop)."""
    if tensors and all(t.is_cuda for t in tensors):
        return torch._foreach_norm(tensors, p)
    return [t.norm(p) for t in tensors]


def _topic_type(kind: str) -> TopicType:
    return "META" if kind in NETWORK_KINDS else "DATA"


class StatisticSubscriber(Subscriber):
    """Base of the one-kind statistics: publishes ``<kind>_<suffix>`` per message."""

    suffix: ClassVar[str] = ""

    def __init__(self, kind: str, *, tag: str = "default", subsample: int = 1) -> None:
        super().__init__(kind, tag=tag, subsample=subsample)
        self.kind = kind
        self.topic = f"{kind}_{self.suffix}"
        self._add_publication(self.topic, _topic_type(kind))

    def statistic(self, tensors: list[torch.Tensor]) -> Sequence[torch.Tensor]:
        """One 0-dim tensor per input tensor."""
        raise NotImplementedError

    def process_messages(self, items: list[Any]) -> None:
        messages: list[Message] = items
        where = f"{type(self).__name__}({self.kind!r})"
        values = self.statistic([_float(m.data, where) for m in messages])
        for message, value in zip(messages, values, strict=True):
            self.publish(self.topic, value, message.module_name)


class NormSubscriber(StatisticSubscriber):
    """The p-norm (default 2; ``float('inf')`` allowed) of each message: ``<kind>_norm<p>``."""

    def __init__(
        self, kind: str, p: float = 2, *, tag: str = "default", subsample: int = 1
    ) -> None:
        self.p = float(p)
        label = "inf" if self.p == float("inf") else f"{self.p:g}"
        self.suffix = f"norm{label}"  # type: ignore[misc]
        super().__init__(kind, tag=tag, subsample=subsample)

    def statistic(self, tensors: list[torch.Tensor]) -> Sequence[torch.Tensor]:
        return norms(tensors, self.p)  # batched across modules on CUDA


class MeanSubscriber(StatisticSubscriber):
    """The mean of each message: ``<kind>_mean``."""

    suffix = "mean"

    def statistic(self, tensors: list[torch.Tensor]) -> Sequence[torch.Tensor]:
        return [t.mean() for t in tensors]


class VarianceSubscriber(StatisticSubscriber):
    """The (unbiased) variance of each message: ``<kind>_variance``."""

    suffix = "variance"

    def statistic(self, tensors: list[torch.Tensor]) -> Sequence[torch.Tensor]:
        return [t.var() for t in tensors]


class SumSubscriber(StatisticSubscriber):
    """The sum of each message: ``<kind>_sum``."""

    suffix = "sum"

    def statistic(self, tensors: list[torch.Tensor]) -> Sequence[torch.Tensor]:
        return [t.sum() for t in tensors]


class RatioSubscriber(Subscriber):
    """``‖kind1‖ / ‖kind2‖`` per module, e.g. ``["weight_updates", "weights"]``.

    Synchronized: a module contributes only when both kinds arrived in the step.
    Publishes ``<kind1>_<kind2>_ratio``.
    """

    def __init__(
        self, kinds: Sequence[str], p: float = 2, *, tag: str = "default", subsample: int = 1
    ) -> None:
        if isinstance(kinds, str) or len(kinds) != 2:
            raise ConfigError(f"RatioSubscriber: expected two kinds, got {kinds!r}")
        super().__init__(tuple(kinds), tag=tag, subsample=subsample, synchronized=True)
        self.numerator, self.denominator = kinds
        self.p = float(p)
        self.topic = f"{self.numerator}_{self.denominator}_ratio"
        self._add_publication(self.topic, _topic_type(self.numerator))

    def process_messages(self, items: list[Any]) -> None:
        bundles: list[MessageBundle] = items
        where = f"RatioSubscriber({self.topic!r})"
        tops = norms([_float(b[self.numerator], where) for b in bundles], self.p)
        bottoms = norms([_float(b[self.denominator], where) for b in bundles], self.p)
        for bundle, ratio in zip(
            bundles, torch._foreach_div(list(tops), list(bottoms)), strict=True
        ):
            self.publish(self.topic, ratio, None if bundle.key == "META" else bundle.key)


class MessageMeanSubscriber(Subscriber):
    """The mean over modules of one kind per step (``<kind>_message_mean``, a META topic).

    Each message is reduced to its mean first, so it suits per-module scalars such as
    ``activations_norm2`` (derived topics are computed first, whatever the plugin order).
    """

    def __init__(self, kind: str, *, tag: str = "default", subsample: int = 1) -> None:
        super().__init__(kind, tag=tag, subsample=subsample)
        self.kind = kind
        self.topic = f"{kind}_message_mean"
        self._add_publication(self.topic, "META")

    def process_messages(self, items: list[Any]) -> None:
        where = f"MessageMeanSubscriber({self.kind!r})"
        values = [_float(m.data, where) for m in items]
        means = torch.stack([v if v.dim() == 0 else v.mean() for v in values])
        self.publish(self.topic, means.mean())
