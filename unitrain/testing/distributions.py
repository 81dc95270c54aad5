"""Fake installed distributions: real ``.dist-info`` folders on ``sys.path``.

``importlib.metadata`` finds them like any installed package, so entry-point discovery is
tested end to end without pip and without monkeypatching the metadata API.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Mapping
from pathlib import Path

__all__ = ["forget_modules", "make_distribution"]


def make_distribution(
    root: Path,
    name: str,
    version: str = "1.0",
    *,
    entry_points: Mapping[str, Mapping[str, str]] | None = None,
    modules: Mapping[str, str] | None = None,
) -> Path:
    """Write distribution ``name`` into ``root`` and return ``root``.

    ``entry_points`` maps a group to ``{entry name: "module:attr"}``; ``modules`` maps a
    relative file name (``"my_plugin.py"``, ``"pkg/__init__.py"``) to its source. Put
    ``root`` on ``sys.path`` (or ``PYTHONPATH`` for a subprocess) to install it.
    """
    root.mkdir(parents=True, exist_ok=True)
    info = root / f"{name.replace('-', '_')}-{version}.dist-info"
    info.mkdir(exist_ok=True)
    (info / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n", encoding="utf-8"
    )
    lines: list[str] = []
    for group, points in (entry_points or {}).items():
        lines.append(f"[{group}]")
        lines += [f"{entry} = {target}" for entry, target in points.items()]
        lines.append("")
    (info / "entry_points.txt").write_text("\n".join(lines), encoding="utf-8")
    for relative, source in (modules or {}).items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(source, encoding="utf-8")
    importlib.invalidate_caches()
    return root


def forget_modules(*names: str) -> None:
    """Remove modules (and their submodules) from ``sys.modules``, so a test that
    imported them leaves no trace for the next one."""
    for loaded in list(sys.modules):
        if any(loaded == n or loaded.startswith(f"{n}.") for n in names):
            del sys.modules[loaded]
