"""Which checkpoints to delete: keep the last K, the best K by a metric, and protected ones.

Deletion happens only after a new checkpoint is committed, and never touches the one the
``latest`` pointer names or the one the run resumed from. Only folders unitrain wrote are
candidates (a checkpoint name and a unitrain manifest, :func:`~unitrain.runs.checkpoint.
is_owned`); anything else in the folder is never deleted. "Last" is by training position,
counted up to ``newest`` (the checkpoint just committed): checkpoints beyond it were left by
an attempt abandoned by resuming from an older one, and are kept until re-saved over.
"""

from __future__ import annotations

import json
import math
from collections.abc import Collection
from pathlib import Path
from typing import Literal

from unitrain.runs.checkpoint import (
    MANIFEST,
    checkpoint_position,
    is_owned,
    list_checkpoints,
    read_latest,
)
from unitrain.runs.safe_io import read_regular

__all__ = ["monitor_value", "select_removals"]


def monitor_value(path: Path) -> float | None:
    """The monitored metric a checkpoint's manifest recorded, if any."""
    try:
        manifest = json.loads(read_regular(path / MANIFEST, limit=16 << 20).decode("utf-8"))
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
    newest: Path | None = None,
) -> list[Path]:
    """Checkpoints under ``directory`` that neither rule nor ``protect`` keeps (oldest first).

    ``keep_last=None`` keeps every checkpoint. ``newest``: the checkpoint just committed
    (kept; the ones beyond its position are neither counted nor deleted).
    """
    if keep_last is None:
        return []
    found = [p for p in list_checkpoints(directory) if is_owned(p)]
    if newest is not None and (limit := checkpoint_position(newest.name)) is not None:
        found = [p for p in found if (checkpoint_position(p.name) or limit) <= limit]
    keep = {p.resolve() for p in protect}
    if newest is not None:
        keep.add(newest.resolve())
    pointed = read_latest(directory)
    if pointed is not None:
        keep.add((directory / pointed).resolve())
    keep.update(p.resolve() for p in found[max(0, len(found) - keep_last) :])
    if keep_best > 0:
        scored = [(v, p) for p in found if (v := monitor_value(p)) is not None]
        scored.sort(key=lambda item: item[0], reverse=mode == "max")
        keep.update(p.resolve() for _, p in scored[:keep_best])
    return [p for p in found if p.resolve() not in keep]
