"""``StepBundles``: everything published during one step, handed to ``on_bus_bundles``.

It is a sequence of :class:`MessageBundle` (one per key: ``"META"`` first, then the modules
in discovery order), indexed by kind for subscribers, and it runs subscribers in
dependency order: when a subscriber consumes a derived topic, its producer is delivered
first (once per step), whatever order the plugins were registered in.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, overload

from unitrain.bus.messages import META, Message, MessageBundle
from unitrain.errors import BusError

if TYPE_CHECKING:
    from unitrain.bus.subscriber import Subscriber

__all__ = ["StepBundles"]

_EMPTY: list[Message] = []


class StepBundles(Sequence[MessageBundle]):
    """The messages of one step (or of one epoch's close), grouped and indexed.

    ``messages(kind, tag)`` lists one kind's messages in module order; ``bundle(key)`` gives
    the bundle of one module (or ``"META"``); iterating gives every bundle. ``context`` is
    the object that delivered them (the native :class:`~unitrain.bus.MessageBus`, or a
    compat bus), for subscribers that need more than data (e.g. an evaluation pass).
    """

    def __init__(
        self,
        global_step: int,
        train_step: int,
        epoch: int,
        producers: Mapping[str, object] | None = None,
        context: Any = None,
    ) -> None:
        self.global_step = global_step
        self.train_step = train_step
        self.epoch = epoch
        self.context = context
        self._producers: Mapping[str, object] = producers if producers is not None else {}
        self._by_kind: dict[str, list[Message]] = {}
        self._order: list[Message] = []
        self._bundles: list[MessageBundle] | None = None
        self._done: set[int] = set()
        self._running: list[object] = []

    # ------------------------------------------------------------ publishing

    def add(self, message: Message) -> None:
        """Add one message (it must carry this step's counters)."""
        if message.global_step != self.global_step or message.epoch != self.epoch:
            raise BusError(
                f"message {message.kind!r} is for step {message.global_step} (epoch "
                f"{message.epoch}), but these bundles are for step {self.global_step} "
                f"(epoch {self.epoch}); publish with the counters of the bundles"
            )
        self._order.append(message)
        self._by_kind.setdefault(message.kind, []).append(message)
        self._bundles = None

    def publish(
        self, kind: str, data: Any, module_name: str | None = None, tag: str = "default"
    ) -> Message:
        """Make a message with this step's counters, add it, and return it."""
        message = Message(
            kind, data, self.global_step, self.train_step, self.epoch, module_name, tag
        )
        self.add(message)
        return message

    # ------------------------------------------------------------ reading

    def messages(self, kind: str, tag: str | None = "default") -> list[Message]:
        """The messages of ``kind`` (with ``tag``; any tag for ``None``), in module order."""
        found = self._by_kind.get(kind, _EMPTY)
        if tag is None:
            return list(found)
        return [m for m in found if m.tag == tag]

    def all_messages(self) -> list[Message]:
        """Every message, in the order it was published (the step's timeline)."""
        return list(self._order)

    def kinds(self) -> set[str]:
        """Every kind present."""
        return set(self._by_kind)

    def bundle(self, key: str, tag: str = "default") -> MessageBundle | None:
        """The bundle of ``key`` (a module name or ``"META"``), or ``None``."""
        for bundle in self._grouped():
            if bundle.key == key and bundle.tag == tag:
                return bundle
        return None

    def _grouped(self) -> list[MessageBundle]:
        if self._bundles is None:
            groups: dict[tuple[str, str], MessageBundle] = {}
            for message in self._order:
                group = groups.get((message.tag, message.key))
                if group is None:
                    group = groups[(message.tag, message.key)] = MessageBundle()
                group.add_message(message)
            meta = [b for b in groups.values() if b.key == META]
            self._bundles = meta + [b for b in groups.values() if b.key != META]
        return self._bundles

    @overload
    def __getitem__(self, index: int) -> MessageBundle: ...
    @overload
    def __getitem__(self, index: slice) -> Sequence[MessageBundle]: ...
    def __getitem__(self, index: int | slice) -> MessageBundle | Sequence[MessageBundle]:
        return self._grouped()[index]

    def __len__(self) -> int:
        return len(self._grouped())

    def __iter__(self) -> Iterator[MessageBundle]:
        return iter(self._grouped())

    def __repr__(self) -> str:
        return (
            f"StepBundles(step={self.global_step}, epoch={self.epoch}, "
            f"kinds={sorted(self._by_kind)})"
        )

    # ------------------------------------------------------------ delivery

    def deliver(self, subscriber: Subscriber) -> None:
        """Run ``subscriber`` on these bundles once, after the producers of its inputs."""
        ident = id(subscriber)
        if ident in self._done:
            return
        if any(r is subscriber for r in self._running):
            cycle = " -> ".join(repr(r) for r in [*self._running, subscriber])
            raise BusError(f"derived topics depend on each other in a cycle: {cycle}")
        self._running.append(subscriber)
        try:
            for kind in subscriber.kinds:
                producer = self._producers.get(kind)
                if producer is not None and producer is not subscriber:
                    self.deliver(producer)  # type: ignore[arg-type]
            subscriber.receive_bundles(self)
        except BaseException as error:
            _note(error, subscriber, self)
            raise
        finally:
            self._running.pop()
        self._done.add(ident)


def _note(error: BaseException, subscriber: object, bundles: StepBundles) -> None:
    # Every subscriber shares Subscriber.on_bus_bundles, so the manager cannot tell from the
    # traceback which one failed; name it here, once (the manager skips noted errors).
    if getattr(error, "_unitrain_noted", False):
        return
    error.add_note(
        f"unitrain: raised by bus subscriber {subscriber!r} in hook 'on_bus_bundles' at "
        f"bus step {bundles.global_step} (train_step {bundles.train_step}, epoch {bundles.epoch})"
    )
    try:
        error._unitrain_noted = True  # type: ignore[attr-defined]
    except AttributeError:  # exceptions with __slots__ cannot be marked
        pass
