"""``ISideEffect``: a t3w plugin, registered on the one spec like any other plugin.

A subclass implements any of t3w's ten events with t3w's arguments. When the class is
defined, each overridden event gets a bridge: the unitrain hook of the same moment, which
calls the t3w method with the t3w arguments. Only overridden events get a bridge, so an
unused event costs nothing per step; and in a trainer the relay calls the t3w method itself
with the t3w arguments (the loop is found once per plugin set, see :mod:`.bridges`), so an
overridden event costs what a native plugin's hook costs.

==============================  =======================================  ============
t3w event                       unitrain hook                            ``step``
==============================  =======================================  ============
on_train_started(loop)          on_fit_start
on_train_epoch_started(l, e)    on_epoch_start                           ``e = state.epoch``
on_train_step_started(l, s, mb)  on_train_step_start                     ``state.batch_idx``
on_train_step_finished(...)     on_train_step_end (``step_return``)      ``state.batch_idx``
on_train_epoch_finished(l, e)   on_epoch_end (after the eval, as in t3w)
on_train_finished(loop)         on_fit_end (t3w never fired it)
on_eval_started(loop)           on_eval_start
on_eval_step_started(l, s, mb)  on_eval_step_start
on_eval_step_finished(l, s, mb)  on_eval_step_end
on_eval_finished(loop)          on_eval_end (metric values are final)
==============================  =======================================  ============

``is_distributed = False`` (the default) becomes ``ranks = "main"``; order is the
registration order, as t3w's list order was. ``loop`` is the :class:`TrainLoop` /
:class:`EvalLoop` that runs the fit, or, when the side effect is handed straight to a
:class:`unitrain.Trainer`, an :class:`EngineLoop` view with the same attribute names.
Within a ``TrainLoop`` a side effect only hears the events of the loops whose
``side_effects`` list it is in, as in t3w.
"""

from __future__ import annotations

from typing import Any, ClassVar

from unitrain.compat.t3w.bridges import bind_bridge, make_bridge, step_return_of
from unitrain.compat.t3w.contract import StepReturnDict
from unitrain.compat.t3w.loop_view import EVAL_LOOPS, T3W_EVENTS, TRAIN_LOOP, EngineLoop
from unitrain.hooks.forward import forwarded
from unitrain.hooks.markers import hookimpl

__all__ = ["EVAL_LOOPS", "TRAIN_LOOP", "EngineLoop", "ISideEffect", "step_return_of"]


class ISideEffect:
    """The t3w plugin interface: override any of the ten events (see the module docstring).

    ``is_distributed``: False (default) runs the side effect on the main process only.
    """

    is_distributed: bool = False
    unitrain_t3w_bridges: ClassVar[frozenset[str]] = frozenset()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        bridges = set()
        for t3w_name, hook_name in T3W_EVENTS.items():
            own_event = cls.__dict__.get(t3w_name)
            if callable(own_event):
                own_event.unitrain_not_a_hook = True
            method = getattr(cls, t3w_name)
            if method is getattr(ISideEffect, t3w_name):
                continue
            own = cls.__dict__.get(hook_name)
            if own is not None and not getattr(own, "unitrain_t3w_bridge", False):
                raise TypeError(
                    f"{cls.__name__} defines both {t3w_name} (t3w) and {hook_name} (the "
                    f"unitrain hook it is bridged to); keep one of them"
                )
            bridge = hookimpl(forwarded(bind_bridge(t3w_name))(make_bridge(t3w_name)))
            bridge.unitrain_t3w_bridge = True  # type: ignore[attr-defined]
            bridge.__qualname__ = f"{cls.__qualname__}.{hook_name}"
            setattr(cls, hook_name, bridge)
            bridges.add(t3w_name)
        cls.unitrain_t3w_bridges = frozenset(bridges)

    @property
    def ranks(self) -> str:
        """Where the side effect runs: every rank if ``is_distributed``, else the main one."""
        return "all" if self.is_distributed else "main"

    def __getstate__(self) -> dict[str, Any]:
        return self.__dict__

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__ = state

    def on_eval_started(self, loop: Any) -> None:
        """An evaluation pass begins."""

    def on_eval_step_started(self, loop: Any, step: int, mb: Any) -> None:
        """An evaluation step begins (``mb`` as the loader gave it)."""

    def on_eval_step_finished(self, loop: Any, step: int, mb: Any) -> None:
        """An evaluation step is done (``mb`` filled by the model)."""

    def on_eval_finished(self, loop: Any) -> None:
        """An evaluation pass is done; ``loop.metric_values`` holds its values."""

    def on_train_started(self, loop: Any) -> None:
        """Training begins."""

    def on_train_epoch_started(self, loop: Any, epoch: int) -> None:
        """A training epoch begins."""

    def on_train_step_started(self, loop: Any, step: int, mb: Any) -> None:
        """A training step begins."""

    def on_train_step_finished(
        self, loop: Any, step: int, mb: Any, step_return: StepReturnDict
    ) -> None:
        """A training step is done; ``step_return`` holds its losses and metrics."""

    def on_train_epoch_finished(self, loop: Any, epoch: int) -> None:
        """A training epoch is done, after its evaluation."""

    def on_train_finished(self, loop: Any) -> None:
        """Training is done (t3w declared this event but never fired it)."""


for _name in T3W_EVENTS:
    # The t3w-named methods are not unitrain hooks: the manager must not take them for
    # misspelt ones (subclass overrides are marked in __init_subclass__).
    getattr(ISideEffect, _name).unitrain_not_a_hook = True
