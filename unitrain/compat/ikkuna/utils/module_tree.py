"""ikkuna's ``ModuleTree``: unique hierarchical names for the modules of a model.

Names follow ikkuna's scheme: the root's name is dropped, a child keeps its attribute name
unless that is a number (``nn.Sequential`` indices), which becomes the class name in lower
case plus the count of earlier siblings of that class: ``/features/conv2d0``,
``/features/relu0``, ``/features/conv2d1``, ``/classifier/linear0``.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterator

import torch

from unitrain.compat.ikkuna.utils.named_module import NamedModule

__all__ = ["ModuleTree"]

_NUMBER = re.compile(r"\d+")


class ModuleTree:
    """``ModuleTree(module, name=None, drop_name=True, recursive=True)``; ``preorder(depth)``
    yields the :class:`NamedModule` of each leaf, or of each node at ``depth`` (-1: leaves)."""

    def __init__(
        self,
        module: torch.nn.Module,
        name: str | None = None,
        drop_name: bool = True,
        recursive: bool = True,
    ) -> None:
        if drop_name:
            name = ""
        elif name is None or _NUMBER.match(name):
            name = type(module).__name__.lower()
        self._module = module
        self._name = name
        self._children: list[ModuleTree] = []
        counts: dict[type, int] = defaultdict(int)
        if recursive:
            for child_name, child in module.named_children():
                if _NUMBER.match(child_name):  # an index: name it by class and sibling count
                    child_name = f"{type(child).__name__.lower()}{counts[type(child)]}"
                self._children.append(
                    ModuleTree(child, name=f"{name}/{child_name}", drop_name=False)
                )
                counts[type(child)] += 1

    @property
    def name(self) -> str:
        """This node's hierarchical name (``""`` for a dropped root)."""
        return self._name

    def preorder(self, depth: int = -1) -> Iterator[NamedModule]:
        """The named modules at ``depth`` levels down (leaves above it included); -1: leaves."""
        if depth == 0 or not self._children:
            yield NamedModule(self._module, self._name)
            return
        for child in self._children:
            yield from child.preorder(depth - 1 if depth > 0 else -1)

    def nodes(self) -> Iterator[NamedModule]:
        """Every node (this one first), whatever its depth."""
        yield NamedModule(self._module, self._name)
        for child in self._children:
            yield from child.nodes()
