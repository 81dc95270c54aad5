"""``RecordingPlugin``: records every event hook, so tests can assert event sequences."""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from unitrain.hooks.specs import Hooks

__all__ = ["Event", "RecordingPlugin"]

_EVENT_NAMES = tuple(name for name in dir(Hooks) if name.startswith("on_"))


@dataclass(frozen=True, slots=True)
class Event:
    """One recorded hook call: the hook's short name (``'epoch_start'``) and the position."""

    name: str
    epoch: int
    batch_idx: int
    global_step: int
    split: str | None = None


def _recorder(hook: str) -> Callable[..., None]:
    # Every event hook takes ``state``; the eval ones also ``split``. pluggy passes an
    # implementation only the arguments its own parameters name, so these two suffice.
    short = hook.removeprefix("on_")
    if "split" in inspect.signature(getattr(Hooks, hook)).parameters:

        def record(self: RecordingPlugin, state: Any, split: str) -> None:
            self.events.append(Event(short, state.epoch, state.batch_idx, state.global_step, split))

    else:

        def record(self: RecordingPlugin, state: Any) -> None:  # type: ignore[misc]
            self.events.append(Event(short, state.epoch, state.batch_idx, state.global_step))

    record.__name__ = record.__qualname__ = hook
    return record


class RecordingPlugin:
    """Implements every event hook (``on_*``) of the spec and records each call.

    ``recorder.names`` is the sequence of short names (``'fit_start'``, ``'epoch_start'``,
    ``'train_step_start'`` ...). :meth:`assert_matches` checks it against a regular
    expression over those names separated by spaces, e.g.
    ``r"fit_start (epoch_start (train_step_start .*? train_step_end )+epoch_end )+fit_end"``.
    ``only`` restricts recording to some hooks (short or full names).
    """

    name = "recorder"

    def __init__(self, only: Sequence[str] = ()) -> None:
        self.events: list[Event] = []
        self._only = {n.removeprefix("on_") for n in only}

    @property
    def names(self) -> list[str]:
        """Recorded short names, filtered by ``only`` when given."""
        return [e.name for e in self.events if not self._only or e.name in self._only]

    def clear(self) -> None:
        """Forget what was recorded."""
        self.events.clear()

    def assert_sequence(self, expected: Sequence[str]) -> None:
        """The recorded names are exactly ``expected``; the message shows where they differ."""
        got = self.names
        expected = [e.removeprefix("on_") for e in expected]
        if got == expected:
            return
        index = next(
            (i for i, (a, b) in enumerate(zip(got, expected, strict=False)) if a != b),
            min(len(got), len(expected)),
        )
        raise AssertionError(
            f"event sequence differs at position {index}: expected "
            f"{expected[index : index + 3]!r}, got {got[index : index + 3]!r}\n"
            f"  expected ({len(expected)}): {expected}\n  got      ({len(got)}): {got}"
        )

    def assert_matches(self, pattern: str) -> None:
        """The space-joined names (with a trailing space) fully match ``pattern``."""
        text = " ".join(self.names) + " "
        if re.fullmatch(pattern, text) is None and re.fullmatch(pattern, text.rstrip()) is None:
            raise AssertionError(f"event sequence does not match {pattern!r}:\n  {text}")

    def count(self, name: str) -> int:
        """How often the event ``name`` (short or full) was recorded."""
        return self.names.count(name.removeprefix("on_"))


for _hook in _EVENT_NAMES:
    setattr(RecordingPlugin, _hook, _recorder(_hook))
