"""Each aitoolbox callback becomes one pluggy plugin on the one unitrain spec.

The adapter class is built once per callback class and has only the unitrain hooks that
correspond to the seed methods the callback overrides (aitoolbox likewise skipped empty
ones). Seed hook → unitrain hook:

============================  =========================================================
``on_train_begin``            ``on_fit_start``
``on_epoch_begin``            ``on_epoch_start``
``on_batch_begin``            ``on_train_step_start``
``on_after_gradient_update``  ``on_before_optimizer_step`` (per optimizer) on update
                              iterations, ``on_after_backward`` on the others; only while
                              ``grad_cb_used``
``on_after_optimizer_step``   ``on_after_optimizer_step``; only while ``grad_cb_used``
``on_batch_end``              ``on_train_step_end``
``on_epoch_end``              ``on_epoch_end``
``on_train_end``              ``on_fit_end``
``on_after_batch_prediction`` ``on_predict_step_end`` of passes run with
                              ``execute_callbacks=True``
============================  =========================================================

Each wired hook's implementation carries a forward (:mod:`unitrain.hooks.forward`): in a
trainer the relay calls the callback's own method, ``callback.on_batch_end()``, with no
adapter call in between, and the gradient hooks' ``grad_cb_used`` test is compiled in front
of the call (``if loop.grad_cb_used: callback.on_after_optimizer_step()``), so a callback
costs per event what a native plugin costs. The callback's methods are looked up when the
plugin set changes (a method replaced on the instance afterwards is not seen).

The plugin's ``order`` is the callback's ``execution_order`` and its ``ranks`` the
callback's ``device_idx_execution`` (``"all"`` when ``None``). A callback with
``state_dict`` / ``load_state_dict`` (schedulers) also gets ``on_save_checkpoint`` /
``on_load_checkpoint``, under ``checkpoint["plugins"][<plugin name>]``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from unitrain.compat.aitoolbox.abstract import AbstractCallback
from unitrain.hooks.forward import Forward, forwarded

if TYPE_CHECKING:
    import torch

    from unitrain.compat.aitoolbox.train_loop import TrainLoop
    from unitrain.core.state import State
    from unitrain.hooks.manager import PluginManager

__all__ = ["CallbackPlugin", "make_plugin", "overridden_hooks"]


class CallbackPlugin:
    """Base of the generated adapters: holds the callback, its loop and its order."""

    def __init__(self, callback: AbstractCallback, loop: TrainLoop) -> None:
        self.callback = callback
        self.loop = loop
        self.name = callback.callback_name
        self.order = callback.execution_order
        self.ranks: Any = (
            "all" if callback.device_idx_execution is None else callback.device_idx_execution
        )

    def __repr__(self) -> str:
        return f"<aitoolbox callback {self.name!r} order={self.order}>"

    def gradient_updates(self, state: State) -> None:
        """``on_after_gradient_update`` once per optimizer (a micro-step with no update)."""
        for index in range(len(state.optimizers)):
            self.callback.on_after_gradient_update(index)


def _calls(seed_hook: str) -> Callable[[CallbackPlugin, PluginManager], Forward]:
    """The binder of a hook that calls ``callback.<seed_hook>()`` with no arguments."""

    def bind(plugin: CallbackPlugin, manager: PluginManager) -> Forward:
        return Forward(getattr(plugin.callback, seed_hook))

    return bind


_GRADIENTS = "{0}.grad_cb_used"


@forwarded(_calls("on_train_begin"))
def _on_fit_start(self: CallbackPlugin, state: State) -> None:
    self.callback.on_train_begin()


@forwarded(_calls("on_epoch_begin"))
def _on_epoch_start(self: CallbackPlugin, state: State) -> None:
    self.callback.on_epoch_begin()


@forwarded(_calls("on_batch_begin"))
def _on_train_step_start(self: CallbackPlugin, state: State) -> None:
    self.callback.on_batch_begin()


@forwarded(
    lambda plugin, manager: Forward(
        plugin.gradient_updates,
        ("state",),
        (plugin.loop,),
        guard=f"{_GRADIENTS} and not state.ends_window",
    )
)
def _on_after_backward(self: CallbackPlugin, state: State) -> None:
    # On update iterations the hook fires per optimizer right before its step instead.
    if self.loop.grad_cb_used and not state.ends_window:
        self.gradient_updates(state)


@forwarded(
    lambda plugin, manager: Forward(
        plugin.callback.on_after_gradient_update, ("optimizer_idx",), (plugin.loop,), _GRADIENTS
    )
)
def _on_before_optimizer_step(self: CallbackPlugin, state: State, optimizer_idx: int) -> None:
    if self.loop.grad_cb_used:
        self.callback.on_after_gradient_update(optimizer_idx)


@forwarded(
    lambda plugin, manager: Forward(
        plugin.callback.on_after_optimizer_step, (), (plugin.loop,), _GRADIENTS
    )
)
def _on_after_optimizer_step(self: CallbackPlugin, state: State) -> None:
    if self.loop.grad_cb_used:
        self.callback.on_after_optimizer_step()


@forwarded(_calls("on_batch_end"))
def _on_train_step_end(self: CallbackPlugin, state: State) -> None:
    self.callback.on_batch_end()


@forwarded(_calls("on_epoch_end"))
def _on_epoch_end(self: CallbackPlugin, state: State) -> None:
    self.callback.on_epoch_end()


@forwarded(_calls("on_train_end"))
def _on_fit_end(self: CallbackPlugin, state: State) -> None:
    self.callback.on_train_end()


def _on_predict_step_end(self: CallbackPlugin, state: State, output: Any) -> None:
    info = self.loop.prediction_callbacks_info
    if info is not None:
        y_pred, y_true, metadata = output
        self.callback.on_after_batch_prediction(y_pred, y_true, metadata, info)


def _on_save_checkpoint(self: CallbackPlugin, checkpoint: dict[str, Any]) -> None:
    checkpoint.setdefault("plugins", {})[self.name] = self.callback.state_dict()  # type: ignore[attr-defined]


def _on_load_checkpoint(self: CallbackPlugin, checkpoint: dict[str, Any]) -> None:
    saved = checkpoint.get("plugins", {}).get(self.name)
    if saved is not None:
        self.callback.load_state_dict(saved)  # type: ignore[attr-defined]


_WIRING: dict[str, dict[str, Callable[..., None]]] = {
    "on_train_begin": {"on_fit_start": _on_fit_start},
    "on_epoch_begin": {"on_epoch_start": _on_epoch_start},
    "on_batch_begin": {"on_train_step_start": _on_train_step_start},
    "on_after_gradient_update": {
        "on_after_backward": _on_after_backward,
        "on_before_optimizer_step": _on_before_optimizer_step,
    },
    "on_after_optimizer_step": {"on_after_optimizer_step": _on_after_optimizer_step},
    "on_batch_end": {"on_train_step_end": _on_train_step_end},
    "on_epoch_end": {"on_epoch_end": _on_epoch_end},
    "on_train_end": {"on_fit_end": _on_fit_end},
    "on_after_batch_prediction": {"on_predict_step_end": _on_predict_step_end},
}


def overridden_hooks(callback_type: type[AbstractCallback]) -> list[str]:
    """The seed hooks ``callback_type`` overrides, in lifecycle order."""
    return [
        name
        for name in (
            "on_train_loop_registration",
            "on_multiprocess_start",
            *_WIRING,
        )
        if getattr(callback_type, name) is not getattr(AbstractCallback, name)
    ]


_CLASSES: dict[type[AbstractCallback], type[CallbackPlugin]] = {}


def _adapter_class(callback_type: type[AbstractCallback]) -> type[CallbackPlugin]:
    made = _CLASSES.get(callback_type)
    if made is not None:
        return made
    namespace: dict[str, Any] = {}
    for seed_hook in overridden_hooks(callback_type):
        namespace.update(_WIRING.get(seed_hook, {}))
    if callable(getattr(callback_type, "state_dict", None)) and callable(
        getattr(callback_type, "load_state_dict", None)
    ):
        namespace["on_save_checkpoint"] = _on_save_checkpoint
        namespace["on_load_checkpoint"] = _on_load_checkpoint
    made = type(f"{callback_type.__name__}Plugin", (CallbackPlugin,), namespace)
    _CLASSES[callback_type] = made
    return made


def make_plugin(callback: AbstractCallback, loop: TrainLoop) -> CallbackPlugin:
    """The unitrain plugin that runs ``callback``'s overridden hooks for ``loop``."""
    return _adapter_class(type(callback))(callback, loop)


def optimizer_params(optimizer: torch.optim.Optimizer) -> list[torch.Tensor]:
    """Every parameter of ``optimizer``, in its param-group order."""
    return [p for group in optimizer.param_groups for p in group["params"]]
