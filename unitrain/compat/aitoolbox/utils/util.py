"""``aitoolbox.utils.util``: function inspection and list helpers."""

from __future__ import annotations

import functools
import types
from collections.abc import Callable, Iterable
from typing import Any

from unitrain.errors import ConfigTypeError

__all__ = ["copy_function", "flatten_list_of_lists", "function_exists", "is_empty_function"]


def function_exists(object_to_check: Any, fn_name: str) -> bool:
    """Whether ``object_to_check`` has a callable attribute ``fn_name``."""
    return callable(getattr(object_to_check, fn_name, None))


def copy_function(fn: Callable[..., Any]) -> Callable[..., Any]:
    """A new function object with ``fn``'s code, globals, defaults and closure."""
    if not isinstance(fn, types.FunctionType):
        raise ConfigTypeError(
            f"copy_function: expected a plain Python function, got {type(fn).__name__}"
        )
    copy = types.FunctionType(
        fn.__code__, fn.__globals__, fn.__name__, fn.__defaults__, fn.__closure__
    )
    wrapped: Any = functools.update_wrapper(copy, fn)
    wrapped.__kwdefaults__ = fn.__kwdefaults__
    result: Callable[..., Any] = wrapped
    return result


def _empty() -> None:
    pass


def _empty_documented() -> None:
    """Docstring."""


def _constants(fn: Callable[..., Any]) -> tuple[Any, ...]:
    # The docstring is a constant of the code object in some Python versions: leave it out
    # so that a documented empty function compares equal to an undocumented one.
    code = fn.__code__
    return tuple(c for c in code.co_consts if c != fn.__doc__)


def is_empty_function(fn: Callable[..., Any]) -> bool:
    """Whether ``fn``'s body does nothing (``pass``, a docstring, ``lambda: None``)."""
    code = getattr(fn, "__code__", None)
    if code is None:
        return False
    references = (_empty, _empty_documented, lambda: None)
    return any(
        code.co_code == ref.__code__.co_code and _constants(fn) == _constants(ref)
        for ref in references
    )


def flatten_list_of_lists(nested_list: Iterable[Iterable[Any]] | None) -> list[Any] | None:
    """One list of the items of every inner list (``None`` stays ``None``)."""
    if nested_list is None:
        return None
    return [item for inner in nested_list for item in inner]
