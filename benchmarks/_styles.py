"""No-op plugins in every plugin style that can be imported, for the overhead benchmarks.

Each one listens to every per-step event and does nothing, so what a benchmark measures
is the cost of dispatch (and of the style's adapter), not of the plugin's work.
"""

from __future__ import annotations

from typing import Any

import torch

__all__ = ["PER_STEP_HOOKS", "NativeNoop", "factories", "noop_plugins"]

PER_STEP_HOOKS = (
    "on_train_step_start",
    "on_after_backward",
    "on_before_optimizer_step",
    "on_after_optimizer_step",
    "on_train_step_end",
)
"""The events fired once per training step (one optimizer)."""


class NativeNoop:
    """A native unitrain plugin on every per-step event."""

    def on_train_step_start(self, state: Any, batch: Any) -> None:
        pass

    def on_after_backward(self, state: Any, result: Any) -> None:
        pass

    def on_before_optimizer_step(self, state: Any, optimizer: Any, optimizer_idx: int) -> None:
        pass

    def on_after_optimizer_step(self, state: Any, optimizer: Any, optimizer_idx: int) -> None:
        pass

    def on_train_step_end(self, state: Any, batch: Any, result: Any) -> None:
        pass


def _native() -> object:
    return NativeNoop()


def _t3w() -> Any:
    """A factory of t3w side effects on both per-step events, or None without the adapter."""
    try:
        from unitrain.compat.t3w import ISideEffect
    except ImportError:
        return None

    class SideEffectNoop(ISideEffect):
        is_distributed = True  # t3w's default runs on rank 0 only; here every rank is rank 0

        def on_train_step_started(self, loop: Any, step: int, mb: Any) -> None:
            pass

        def on_train_step_finished(self, loop: Any, step: int, mb: Any, step_return: Any) -> None:
            pass

    return SideEffectNoop


def _aitoolbox() -> Any:
    """A factory of aitoolbox callbacks (as the compat ``TrainLoop`` registers them: one
    plugin per callback, made by the adapter for a loop) on every per-batch hook."""
    try:
        from unitrain.compat.aitoolbox import AbstractCallback, TrainLoop, TTBasicModel
        from unitrain.compat.aitoolbox.adapter import make_plugin
    except ImportError:
        return None

    class CallbackNoop(AbstractCallback):
        def __init__(self) -> None:
            super().__init__("noop")

        def on_batch_begin(self) -> None:
            pass

        def on_after_gradient_update(self, optimizer_idx: int) -> None:
            pass

        def on_after_optimizer_step(self) -> None:
            pass

        def on_batch_end(self) -> None:
            pass

    class Holder(TTBasicModel):
        """The loop's model; the callbacks only read the loop's flags."""

        def __init__(self) -> None:
            super().__init__()
            self.layer = torch.nn.Linear(1, 1)

        def forward(self, inputs: Any) -> Any:
            return self.layer(inputs)

    def make() -> object:
        holder = Holder()
        loop = TrainLoop(holder, [], None, None, torch.optim.SGD(holder.parameters()), None)
        callback = CallbackNoop()
        callback.register_train_loop_object(loop)
        return make_plugin(callback, loop)

    return make


def factories() -> list[tuple[str, Any]]:
    """``(style, make one plugin)`` for every style importable here, native first."""
    found: list[tuple[str, Any]] = [("native", _native)]
    for style, factory in (("t3w", _t3w()), ("aitoolbox", _aitoolbox())):
        if factory is not None:
            found.append((style, factory))
    return found


def noop_plugins(count: int) -> tuple[list[object], list[str]]:
    """``count`` no-op plugins dealt round-robin over the available styles, and the styles."""
    found = factories()
    plugins = [found[i % len(found)][1]() for i in range(count)]
    return plugins, [style for style, _ in found]
