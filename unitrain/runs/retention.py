"""Which checkpoints to delete: keep the last K, the best K by a metric, and protected ones.

Deletion happens only after a new checkpoint is committed, and never touches the one the
``latest`` pointer names or the one the run resumed from.
"""

from __future__ import annotations

import json
import math
from collections.abc import Collection
from pathlib import Path
from typing import Literal

from unitrain.runs.checkpoint import MANIFEST, list_checkpoints

__all__ = ["monitor_value", "select_removals"]


def monitor_value(path: Path) -> float | None:
    """The monitored metric a checkpoint's manifest recorded, if any."""
    try:
        manifest = json.loads((path / MANIFEST).read_text(encoding="utf-8"))
        value = manifest.get("monitor", {}).get("value")
    except (OSError, ValueError, AttributeError):
        return None
    if not isinstance(value, int | float) or math.isnan(value):
        return None
    return float(value)


def select_removals(
    directory: Path,
    *,
    keep_last: int | None,
    keep_best: int = 0,
    mode: Literal["min", "max"] = "min",
    protect: Collection[Path] = (),
) -> list[Path]:
    """Checkpoints under ``directory`` that neither rule nor ``protect`` keeps (oldest first).

    ``keep_last=None`` keeps every checkpoint.
    """
    if keep_last is None:
        return []
    found = list_checkpoints(directory)
    keep = {p.resolve() for p in protect}
    keep.update(p.resolve() for p in found[max(0, len(found) - keep_last) :])
    if keep_best > 0:
        scored = [(v, p) for p in found if (v := monitor_value(p)) is not None]
        scored.sort(key=lambda item: item[0], reverse=mode == "max")
        keep.update(p.resolve() for _, p in scored[:keep_best])
    return [p for p in found if p.resolve() not in keep]
