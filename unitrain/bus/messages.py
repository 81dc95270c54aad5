"""Typed messages and the bundles that group one step's messages per module.

Data policy: tensors are detached but not copied. A message is valid during the
``on_bus_bundles`` call that delivers it; a consumer that keeps data beyond that call copies
it (the bus reuses some buffers, e.g. the update buffers, from step to step).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Final

import torch

from unitrain.errors import BusError

__all__ = ["META", "Message", "MessageBundle", "ModuleKey"]

META: Final = "META"
"""Bundle key of network-level messages (those with no module)."""


class ModuleKey(str):
    """A tracked module's name that also carries the module (ikkuna's ``NamedModule``).

    It is a ``str``, so it hashes, compares and prints as the dotted module name; ``.name``
    and ``.module`` give the parts. One key is made per module when the taps are built.
    """

    __slots__ = ("module",)
    module: torch.nn.Module | None

    def __new__(cls, name: str, module: torch.nn.Module | None = None) -> ModuleKey:
        key = super().__new__(cls, name)
        key.module = module
        return key

    @property
    def name(self) -> str:
        """The dotted module name (as in ``model.named_modules()``)."""
        return str.__str__(self)

    def __reduce__(self) -> tuple[Any, ...]:
        return (str, (self.name,))


@dataclass(slots=True, eq=False)
class Message:
    """One piece of data published on the bus.

    ``global_step`` counts training batches in the fit (0-based; the engine's ``micro_step``
    before the batch), ``train_step`` is the batch index in the epoch (0-based, also in later
    epochs), ``epoch`` is 0-based. ``module_name`` is ``None`` for network-level kinds.
    """

    kind: str
    data: Any
    global_step: int
    train_step: int
    epoch: int
    module_name: str | None = None
    tag: str = "default"

    @property
    def key(self) -> str:
        """What bundles group by: the module name, or ``"META"``."""
        return META if self.module_name is None else self.module_name


class MessageBundle:
    """The messages of one key (module or ``"META"``) at one step, by kind.

    ``bundle.data[kind]`` (or ``bundle[kind]``, or ``bundle.<kind>``) is the data of one kind.
    A bundle made with expected ``kinds`` is :meth:`complete` once each has arrived.
    Messages must agree on step, epoch, key and tag; a second message of a kind is refused.
    """

    __slots__ = ("data", "epoch", "expected_kinds", "global_step", "key", "tag", "train_step")

    def __init__(self, kinds: str | Iterable[str] | None = None) -> None:
        if isinstance(kinds, str):
            kinds = (kinds,)
        self.expected_kinds: tuple[str, ...] | None = None if kinds is None else tuple(kinds)
        self.data: dict[str, Any] = {}
        self.key: str | None = None
        self.global_step: int | None = None
        self.train_step: int | None = None
        self.epoch: int | None = None
        self.tag: str | None = None

    @property
    def kinds(self) -> tuple[str, ...]:
        """The expected kinds, or the kinds received when none were given."""
        return self.expected_kinds if self.expected_kinds is not None else tuple(self.data)

    def complete(self) -> bool:
        """True when every expected kind has arrived (always true without expected kinds)."""
        return self.expected_kinds is None or all(k in self.data for k in self.expected_kinds)

    def check_message(self, message: Message) -> None:
        """Refuse a message that does not belong to this bundle (see the class docstring)."""
        if self.key is None:
            return
        mine = (self.global_step, self.train_step, self.epoch, self.key, self.tag)
        theirs = (message.global_step, message.train_step, message.epoch, message.key, message.tag)
        if mine != theirs:
            raise BusError(
                f"message {message.kind!r} (step, train_step, epoch, key, tag = {theirs}) does "
                f"not belong to the bundle {mine}; bundles hold one key at one step"
            )
        if message.kind in self.data:
            raise BusError(
                f"bundle {self.key!r} at step {self.global_step} already has a "
                f"{message.kind!r} message; each kind arrives once per key and step"
            )
        if self.expected_kinds is not None and message.kind not in self.expected_kinds:
            raise BusError(
                f"bundle {self.key!r} expects kinds {list(self.expected_kinds)}, "
                f"got {message.kind!r}"
            )

    def add_message(self, message: Message) -> None:
        """Add ``message`` after :meth:`check_message`."""
        self.check_message(message)
        if self.key is None:
            self.key, self.tag = message.key, message.tag
            self.global_step, self.train_step = message.global_step, message.train_step
            self.epoch = message.epoch
        self.data[message.kind] = message.data

    def __getitem__(self, kind: str) -> Any:
        return self.data[kind]

    def __contains__(self, kind: object) -> bool:
        return kind in self.data

    def __getattr__(self, kind: str) -> Any:
        # Only called when normal lookup fails: gives ``bundle.activations`` etc.
        try:
            return self.data[kind]
        except KeyError:
            raise AttributeError(
                f"bundle {self.key!r} has no kind {kind!r}; it holds {list(self.data)}"
            ) from None

    def __repr__(self) -> str:
        return f"MessageBundle(key={self.key!r}, step={self.global_step}, kinds={list(self.data)})"
