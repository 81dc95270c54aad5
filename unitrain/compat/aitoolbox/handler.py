"""``train_loop_obj.callbacks_handler``: aitoolbox's handler API over the one plugin manager.

Ordering and dispatch are the engine's (one order for every plugin style); the handler
only registers callbacks with the loop and answers questions about them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from unitrain.compat.aitoolbox.abstract import AbstractCallback
from unitrain.compat.aitoolbox.adapter import make_plugin

if TYPE_CHECKING:
    from unitrain.compat.aitoolbox.train_loop import TrainLoop

__all__ = ["CallbacksHandler"]


class CallbacksHandler:
    """Registers callbacks with a train loop; ``in`` finds one by name or by type."""

    def __init__(self, train_loop_obj: TrainLoop) -> None:
        self.train_loop_obj = train_loop_obj

    def register_callbacks(
        self,
        callbacks: Sequence[object] | None,
        cache_callbacks: bool = False,
        print_callbacks: bool = False,
    ) -> None:
        """Register ``callbacks``; during a fit they join the running engine at once."""
        loop = self.train_loop_obj
        before = len(loop.callbacks)
        loop.register_callbacks(callbacks)
        trainer = loop.trainer
        if trainer is not None and trainer.state.phase != "idle":
            for callback in loop.callbacks[before:]:
                trainer.add_plugin(make_plugin(callback, loop))
        if print_callbacks:
            self.print_registered_callback_names()

    def print_registered_callback_names(self) -> None:
        """Print, for each hook, the callbacks that run there in execution order."""
        self.train_loop_obj.print_registered_callback_names()

    def __contains__(self, item: object) -> bool:
        callbacks = self.train_loop_obj.callbacks
        if isinstance(item, str):
            return any(cb.callback_name == item for cb in callbacks)
        if isinstance(item, type):
            return any(isinstance(cb, item) for cb in callbacks)
        return isinstance(item, AbstractCallback) and any(cb is item for cb in callbacks)
