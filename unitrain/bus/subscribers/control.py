"""Subscribers that act: a user callback, and freezing layers on a condition."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import torch

from unitrain.bus.messages import Message, MessageBundle, ModuleKey
from unitrain.bus.subscriber import Subscriber
from unitrain.errors import ConfigError

__all__ = ["CallbackSubscriber", "FreezeSubscriber", "freeze_module"]


def freeze_module(module: torch.nn.Module) -> list[torch.nn.Parameter]:
    """Stop training ``module``: every parameter gets ``requires_grad=False`` and no grad.

    (ikkuna set ``requires_grad`` on the module object, which did nothing.) Optimizers skip
    parameters without a gradient, so the weights stay as they are. Returns the parameters.
    """
    frozen = list(module.parameters())
    for parameter in frozen:
        parameter.requires_grad_(False)
        parameter.grad = None
    return frozen


class CallbackSubscriber(Subscriber):
    """Calls ``callback(*data, global_step, train_step, epoch, key)`` per complete bundle.

    ``data`` holds one item per kind, in the order of ``kinds``.
    """

    def __init__(
        self,
        kinds: str | Iterable[str],
        callback: Callable[..., Any],
        *,
        tag: str = "default",
        subsample: int = 1,
    ) -> None:
        if not callable(callback):
            raise ConfigError(f"CallbackSubscriber: callback must be callable, got {callback!r}")
        super().__init__(kinds, tag=tag, subsample=subsample, synchronized=True)
        self.callback = callback

    def compute(self, message_or_bundle: Any) -> None:
        bundle: MessageBundle = message_or_bundle
        data = [bundle.data[kind] for kind in self.kinds]
        self.callback(*data, bundle.global_step, bundle.train_step, bundle.epoch, bundle.key)


class FreezeSubscriber(Subscriber):
    """Freezes a module once ``condition(module_name, value)`` holds for its scalar ``kind``.

    ``kind`` is a per-module scalar topic (e.g. ``"weight_gradients_norm2"``). Values are
    read to the host every ``every`` steps, all modules in one transfer. Frozen names are
    in :attr:`frozen`. Under DDP freeze on every rank alike (the condition sees the same
    all-reduced gradients there).
    """

    def __init__(
        self, kind: str, condition: Callable[[str, float], bool], *, every: int = 1
    ) -> None:
        if every < 1:
            raise ConfigError(f"FreezeSubscriber: every must be >= 1, got {every}")
        super().__init__(kind, subsample=1)
        self.kind, self.condition, self.every = kind, condition, every
        self.frozen: list[str] = []
        self._seen = 0

    def process_messages(self, items: list[Any]) -> None:
        self._seen += 1
        if (self._seen - 1) % self.every:
            return
        messages: list[Message] = [m for m in items if m.module_name not in self.frozen]
        if not messages:
            return
        values = torch.stack([torch.as_tensor(m.data).reshape(()) for m in messages]).tolist()
        for message, value in zip(messages, values, strict=True):
            name = message.module_name
            if name is not None and self.condition(name, value):
                module = name.module if isinstance(name, ModuleKey) else None
                if module is None:
                    raise ConfigError(
                        f"FreezeSubscriber: message {self.kind!r} of {name!r} carries no module; "
                        "subscribe to a per-module topic of the bus"
                    )
                freeze_module(module)
                self.frozen.append(str(name))
