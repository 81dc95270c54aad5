"""Which plugin an error came from, and where the loop was when it was raised.

The relay notes an error where it catches it; an implementation that the manager handed
out directly (:meth:`~unitrain.hooks.manager.PluginManager.bound`) is found afterwards in
the error's traceback by :func:`find_culprit`.
"""

from __future__ import annotations

import inspect
from typing import TYPE_CHECKING, Any

import pluggy

from unitrain.hooks.forward import Forward

if TYPE_CHECKING:
    from unitrain.core.state import State

__all__ = ["describe_position", "find_culprit"]


def describe_position(state: State | None) -> str:
    """``'phase fit, epoch 1, batch_idx 3, global_step 11'`` for error messages."""
    if state is None:
        return "no step yet"
    return (
        f"phase {state.phase}, epoch {state.epoch}, batch_idx {state.batch_idx}, "
        f"global_step {state.global_step}"
    )


def find_culprit(
    error: BaseException,
    impls: list[pluggy.HookImpl],
    forwards: dict[pluggy.HookImpl, Forward] | None = None,
) -> tuple[str, pluggy.HookImpl] | None:
    """The plugin (and implementation) whose frame is outermost in ``error``'s traceback."""
    # Instances of one class share code objects, so a frame is matched by its code and,
    # for a method, by the instance bound to its first argument. A forwarded implementation
    # is found by the frame of the method the relay called past its function.
    codes: dict[Any, list[tuple[object, tuple[str, pluggy.HookImpl]]]] = {}
    for impl in impls:
        forward = None if forwards is None else forwards.get(impl)
        targets = [impl.function] if forward is None else [impl.function, forward.target]
        for target in targets:
            function: Any = inspect.unwrap(target)
            code = getattr(getattr(function, "__func__", function), "__code__", None)
            if code is not None:
                owner = getattr(function, "__self__", None)
                codes.setdefault(code, []).append((owner, (impl.plugin_name, impl)))
    traceback = error.__traceback__
    while traceback is not None:
        frame = traceback.tb_frame
        candidates = codes.get(frame.f_code, [])
        if len(candidates) == 1:
            return candidates[0][1]
        if candidates and frame.f_code.co_argcount:
            receiver = frame.f_locals.get(frame.f_code.co_varnames[0])
            for owner, name in candidates:
                if owner is receiver:
                    return name
        traceback = traceback.tb_next
    return None
