"""t3w's ``millify``: a count written with a thousands suffix (``1.2M``)."""

from __future__ import annotations

import math
from collections.abc import Sequence

__all__ = ["millify"]


def millify(n: float, names: Sequence[str] = ("", "K", "M", "B", "T")) -> str:
    """``1234567 -> '1.2M'``, ``1000 -> '1K'``, ``999 -> '999'`` (one decimal, ``.0`` dropped)."""
    value = float(n)
    index = 0 if value == 0 else math.floor(math.log10(abs(value)) / 3)
    index = max(0, min(len(names) - 1, index))
    return f"{value / 10 ** (3 * index):.1f}".removesuffix(".0") + names[index]
