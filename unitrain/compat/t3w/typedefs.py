"""t3w's type names: ``FloatScalarTensor``, ``MiniBatchFloats``, and jaxtyping's array
annotations (``Float[Tensor, "batch"]``), used in t3w code as plain annotations.

With jaxtyping installed, ``Float`` / ``Shaped`` / ``Bool`` are jaxtyping's own. Without it
(unitrain does not require it; t3w did), they are annotation-only stand-ins:
``Float[Tensor, "b c"]`` is ``Annotated[Tensor, "Float[b c]"]``, so class bodies and
``self.x: Shaped[Tensor, "_"] = ...`` lines that evaluate them run, and type checkers read
them as ``Tensor``. Neither checks shapes at run time unless a checker is installed.
"""

from __future__ import annotations

from typing import Annotated, Any, NewType

from torch import Tensor

__all__ = ["Bool", "Float", "FloatScalarTensor", "MiniBatchFloats", "Shaped"]


class _ArrayAnnotation:
    """``Name[array_type, "dims"]`` → ``Annotated[array_type, "Name[dims]"]``."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __getitem__(self, params: Any) -> Any:
        if not (isinstance(params, tuple) and len(params) == 2 and isinstance(params[1], str)):
            raise TypeError(
                f"{self.name}[...] takes an array type and a shape string, as in "
                f'{self.name}[Tensor, "batch channels"]; got {params!r}'
            )
        array, dims = params
        return Annotated[array, f"{self.name}[{dims}]"]

    def __repr__(self) -> str:
        return f"unitrain.compat.t3w.typedefs.{self.name}"


try:  # t3w's own annotations when jaxtyping is there
    from jaxtyping import Bool, Float, Shaped  # type: ignore[import-not-found]
except ImportError:
    Float = _ArrayAnnotation("Float")
    Shaped = _ArrayAnnotation("Shaped")
    Bool = _ArrayAnnotation("Bool")

FloatScalarTensor = NewType("FloatScalarTensor", Tensor)
"""A float tensor with no dimensions (a loss or a minibatch-mean metric)."""
MiniBatchFloats = NewType("MiniBatchFloats", Tensor)
"""One float per sample of a minibatch (what a per-sample metric's ``forward`` returns)."""
