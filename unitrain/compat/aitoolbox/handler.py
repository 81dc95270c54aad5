"""``train_loop_obj.callbacks_handler``: aitoolbox's handler API over the one plugin manager.

During a ``fit`` the engine dispatches every callback (one order for every plugin style);
the handler registers callbacks with the loop, keeps aitoolbox's per-hook lists
(``cbs_on_<hook>``, in ``execution_order``) and answers questions about them. Its
``execute_<hook>()`` methods call one hook's callbacks directly, for code that drives
callbacks outside a fit (``PyTorchModelPredictor.execute_epoch_end_callbacks``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import torch

from unitrain.compat.aitoolbox.abstract import AbstractCallback
from unitrain.compat.aitoolbox.adapter import make_plugin, overridden_hooks
from unitrain.errors import ConfigError

if TYPE_CHECKING:
    from unitrain.compat.aitoolbox.train_loop import TrainLoop

__all__ = ["CallbacksHandler"]

POSITIONS = (
    "on_epoch_begin",
    "on_epoch_end",
    "on_train_begin",
    "on_train_end",
    "on_batch_begin",
    "on_batch_end",
    "on_after_gradient_update",
    "on_after_optimizer_step",
    "on_multiprocess_start",
    "on_after_batch_prediction",
)
"""The hooks with a ``cbs_<hook>`` list, in the order of ``registered_cbs``."""


class CallbacksHandler:
    """Registers callbacks with a train loop; ``cbs_<hook>`` lists; ``in`` by name or type."""

    def __init__(self, train_loop_obj: TrainLoop | None) -> None:
        self.train_loop_obj: TrainLoop = train_loop_obj  # type: ignore[assignment]
        self.callbacks_cache: list[AbstractCallback] = []
        self.registered_cbs: list[list[AbstractCallback]] = [[] for _ in POSITIONS]

    def __getattr__(self, name: str) -> Any:
        # cbs_on_<hook> are views of registered_cbs (so both always agree).
        if name.startswith("cbs_") and name[4:] in POSITIONS:
            return self.__dict__["registered_cbs"][POSITIONS.index(name[4:])]
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    # ------------------------------------------------------------------ registration

    def register_callbacks(
        self,
        callbacks: Sequence[AbstractCallback] | None,
        cache_callbacks: bool = False,
        print_callbacks: bool = False,
    ) -> None:
        """Register ``callbacks`` with the loop (or only cache them until the next call).

        The loop's ``callbacks`` stay sorted by ``execution_order``; during a fit new
        callbacks join the running engine at once.
        """
        if cache_callbacks:
            self.callbacks_cache += list(callbacks or [])
        else:
            new = self.callbacks_cache + list(callbacks or [])
            self.callbacks_cache = []
            loop = self.train_loop_obj
            if new:
                self.enforce_callbacks_quality(new)
                enabled = [
                    cb.register_train_loop_object(loop)
                    for cb in new
                    if self.should_enable_callback(cb)
                ]
                loop.callbacks = sorted(loop.callbacks + enabled, key=lambda cb: cb.execution_order)
                trainer = loop.trainer
                if trainer is not None and trainer.state.phase != "idle":
                    for callback in enabled:
                        trainer.add_plugin(make_plugin(callback, loop))
            self.split_on_execution_position(new, register_train_loop=False)
        if print_callbacks:
            self.print_registered_callback_names()

    def should_enable_callback(self, callback: AbstractCallback) -> bool:
        """False only when the callback asks for another device index than the loop's."""
        index = self.train_loop_obj.device.index
        wanted = callback.device_idx_execution
        return index is None or wanted is None or wanted == index

    def enforce_callbacks_quality(self, callbacks: Sequence[object]) -> None:
        """Refuse non-callbacks and a ``device_idx_execution`` beyond the visible GPUs."""
        for callback in callbacks:
            if not isinstance(callback, AbstractCallback):
                raise ConfigError(
                    f"callback {callback!r} is not an AbstractCallback; subclass "
                    "unitrain.compat.aitoolbox.AbstractCallback (native unitrain plugins go to "
                    "TrainLoop.fit(callbacks=...) or TrainLoop(plugins=...))"
                )
            wanted = callback.device_idx_execution
            if wanted is not None and self.train_loop_obj.device.index is not None:
                count = torch.cuda.device_count()
                if wanted >= count:
                    raise ConfigError(
                        f"callback {callback.callback_name!r}: device_idx_execution={wanted}, "
                        f"but {count} GPU(s) are visible; choose an index from 0 to {count - 1} "
                        "or None (every device)"
                    )

    def split_on_execution_position(
        self, callbacks: Sequence[AbstractCallback] | None, register_train_loop: bool = False
    ) -> None:
        """File each enabled callback under every hook it overrides, in execution order."""
        for callback in callbacks or ():
            if not self.should_enable_callback(callback):
                continue
            if register_train_loop:
                callback = callback.register_train_loop_object(self.train_loop_obj)
            hooks = overridden_hooks(type(callback))
            for position, listed in zip(POSITIONS, self.registered_cbs, strict=True):
                if position in hooks:
                    listed.append(callback)
        for listed in self.registered_cbs:
            listed.sort(key=lambda cb: cb.execution_order)  # stable: ties keep their order

    def mp_filter_callbacks(self) -> None:
        """Drop the callbacks meant for another device index than the loop's."""
        loop = self.train_loop_obj
        loop.callbacks = [cb for cb in loop.callbacks if self.should_enable_callback(cb)]
        self.registered_cbs = [
            [cb for cb in listed if self.should_enable_callback(cb)]
            for listed in self.registered_cbs
        ]

    # ------------------------------------------------------------------ direct execution

    def execute_epoch_begin(self) -> None:
        """Run every ``on_epoch_begin``."""
        for callback in self.cbs_on_epoch_begin:
            callback.on_epoch_begin()

    def execute_epoch_end(self) -> None:
        """Run every ``on_epoch_end``."""
        for callback in self.cbs_on_epoch_end:
            callback.on_epoch_end()

    def execute_train_begin(self) -> None:
        """Run every ``on_train_begin``."""
        for callback in self.cbs_on_train_begin:
            callback.on_train_begin()

    def execute_train_end(self) -> None:
        """Run every ``on_train_end``."""
        for callback in self.cbs_on_train_end:
            callback.on_train_end()

    def execute_batch_begin(self) -> None:
        """Run every ``on_batch_begin``."""
        for callback in self.cbs_on_batch_begin:
            callback.on_batch_begin()

    def execute_batch_end(self) -> None:
        """Run every ``on_batch_end``."""
        for callback in self.cbs_on_batch_end:
            callback.on_batch_end()

    def execute_gradient_update(self, optimizer_idx: int = 0) -> None:
        """Run every ``on_after_gradient_update``."""
        for callback in self.cbs_on_after_gradient_update:
            callback.on_after_gradient_update(optimizer_idx)

    def execute_optimizer_step(self) -> None:
        """Run every ``on_after_optimizer_step``."""
        for callback in self.cbs_on_after_optimizer_step:
            callback.on_after_optimizer_step()

    def execute_multiprocess_start(self) -> None:
        """Run every ``on_multiprocess_start``."""
        for callback in self.cbs_on_multiprocess_start:
            callback.on_multiprocess_start()

    def execute_after_batch_prediction(
        self, y_pred_batch: Any, y_test_batch: Any, metadata_batch: Any, dataset_info: Any
    ) -> None:
        """Run every ``on_after_batch_prediction``."""
        for callback in self.cbs_on_after_batch_prediction:
            callback.on_after_batch_prediction(
                y_pred_batch, y_test_batch, metadata_batch, dataset_info
            )

    # ------------------------------------------------------------------ questions

    def __str__(self) -> str:
        lines = ["CALLBACKS"]
        for position, listed in zip(POSITIONS, self.registered_cbs, strict=True):
            lines.append(f"At {position}:")
            lines += [
                f"\t{cb.callback_name}: {type(cb)}, execution_order: {cb.execution_order}"
                for cb in listed
            ]
        return "\n".join(lines)

    def print_registered_callback_names(self) -> None:
        """Print, for each hook, the callbacks that run there in execution order."""
        print(self)

    def __len__(self) -> int:
        return len(self.train_loop_obj.callbacks)

    def __add__(self, other: Sequence[AbstractCallback]) -> CallbacksHandler:
        self.register_callbacks(other)
        return self

    __iadd__ = __add__

    def __contains__(self, item: object) -> bool:
        callbacks = self.train_loop_obj.callbacks
        if isinstance(item, str):
            return any(cb.callback_name == item for cb in callbacks)
        if isinstance(item, type):
            return any(type(cb) is item for cb in callbacks)
        return isinstance(item, AbstractCallback) and any(cb is item for cb in callbacks)
