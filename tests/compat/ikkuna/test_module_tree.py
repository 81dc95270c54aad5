"""ikkuna's module names are unique and cover every leaf, for any nesting (property)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from unitrain.compat.ikkuna.utils import ModuleTree

_LEAVES = st.sampled_from([lambda: nn.Linear(2, 2), nn.ReLU, nn.Tanh, lambda: nn.Dropout(0.1)])


def _build(spec: object) -> nn.Module:
    if isinstance(spec, list):
        return nn.Sequential(*(_build(child) for child in spec)) if spec else nn.Identity()
    return spec()  # type: ignore[operator]


_TREES = st.recursive(_LEAVES, lambda children: st.lists(children, max_size=4), max_leaves=12)


@settings(max_examples=80, deadline=None)
@given(spec=_TREES)
def test_names_are_unique_and_cover_every_leaf(spec: object) -> None:
    model = _build(spec)
    named = list(ModuleTree(model).preorder())
    leaves = [m for m in model.modules() if next(iter(m.children()), None) is None]
    assert [module for module, _ in named] == leaves
    names = [name for _, name in named]
    assert len(set(names)) == len(names)
    if isinstance(model, nn.Sequential):
        assert all(name.startswith("/") and not any(c.isdigit() for c in name.split("/")[1][:1])
                   for name in names)  # fmt: skip
