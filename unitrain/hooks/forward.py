"""Forwarded implementations: a method written in another style, called by the relay directly.

An adapter (a t3w side effect's bridge, an aitoolbox callback's hook) implements a unitrain hook
with a function that maps the hook's arguments to what the user's method takes and calls it.
Called as it is, that function is a second Python call per event on top of the user's method,
plus whatever it looks up each time (the loop object, a flag). Most of what it looks up is
fixed once the plugin set is: so the function may carry a :class:`Forward` (or a binder that
makes one from the plugin and the manager, see :func:`forward_of`) telling the relay how to
call the user's method itself, and the relay compiles that call into the hook's caller::

    def on_train_step_end(state, batch, result):
        ...
        _d_t3w_step_return = _p_t3w_step_return(result)   # once, shared (a Derived value)
        _f3(_c3_0, state.batch_idx, batch, _d_t3w_step_return)
        if _c4_0.grad_cb_used:                             # a guard
            _f4()

A forwarded implementation costs what a native one costs: one call of the user's method.
The function itself stays a complete implementation and is what the relay calls when it does
not forward (the profiler's timed calls, a bare manager without the context a binder needs).
A binder may also answer :data:`SILENT`: the implementation is registered but never heard
in this manager (a t3w side effect on a loop it is not listed in), so no caller calls it.

The expressions are source text over the hook's argument names and placeholders: ``{0}``,
``{1}`` ... for ``constants``, ``{v}`` for a local the guard may bind with ``:=``, and
``{<name>}`` for each :class:`Derived` value. Only the adapters in :mod:`unitrain.compat`
write them; the relay checks every name they use before compiling.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final, TypeVar

if TYPE_CHECKING:
    from unitrain.hooks.manager import PluginManager

__all__ = ["FORWARD", "SILENT", "Binder", "Derived", "Forward", "Silent", "forward_of", "forwarded"]

FORWARD: Final = "unitrain_forward"
"""The attribute of an implementation's function that holds its :class:`Forward` or binder."""


@dataclass(frozen=True, slots=True)
class Derived:
    """A value computed once per hook call from the hook's arguments, shared by every
    forwarded implementation that names it (t3w's step return, say)."""

    name: str
    """An identifier; two implementations naming the same value must give the same provider."""
    provider: Callable[..., Any]
    args: tuple[str, ...]
    """The hook arguments the provider takes, in order."""


@dataclass(frozen=True, slots=True)
class Forward:
    """``if guard: target(*args)``, compiled into the hook's caller."""

    target: Callable[..., Any]
    """What is called: the user's bound method, usually."""
    args: tuple[str, ...] = ()
    """One expression per argument of ``target``."""
    constants: tuple[object, ...] = ()
    """Objects fixed for this plugin set, named ``{0}``, ``{1}`` ... in the expressions."""
    guard: str | None = None
    """An expression; the call happens only when it is true."""
    derived: tuple[Derived, ...] = ()


class Silent:
    """The type of :data:`SILENT`."""

    def __repr__(self) -> str:
        return "SILENT"


SILENT: Final = Silent()
"""A binder's answer for an implementation that no caller of this manager calls."""

Binder = Callable[[Any, "PluginManager"], "Forward | Silent | None"]
"""``(plugin, manager) -> Forward | SILENT | None`` (``None``: call the function itself)."""

F = TypeVar("F", bound=Callable[..., Any])


def forwarded(how: Forward | Binder) -> Callable[[F], F]:
    """Decorate an implementation's function with how the relay may call past it."""

    def mark(function: F) -> F:
        setattr(function, FORWARD, how)
        return function

    return mark


def forward_of(function: object, plugin: object, manager: PluginManager) -> Forward | Silent | None:
    """How the relay calls the implementation ``function`` of ``plugin`` in ``manager``."""
    how = getattr(function, FORWARD, None)
    if how is None or isinstance(how, Forward):
        return how
    answer: Forward | Silent | None = how(plugin, manager)
    return answer
