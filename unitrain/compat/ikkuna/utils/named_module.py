"""ikkuna's ``NamedModule``: a ``(module, name)`` named tuple."""

from __future__ import annotations

from typing import NamedTuple

import torch

__all__ = ["NamedModule"]


class NamedModule(NamedTuple):
    """A tracked module and its hierarchical name: ``module, name = message.key``."""

    module: torch.nn.Module | None
    name: str

    def __str__(self) -> str:
        return f"<NamedModule: {self.name}>"
