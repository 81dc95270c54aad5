"""``fit(resume=...)``: find the checkpoint to continue from, verify it, load it.

``resume`` is ``"latest"`` or a path:

- ``"latest"``: every registered plugin with a ``resume_dirs()`` method (the run store and
  the checkpoint plugin) names the checkpoint directories it knows, newest first; the newest
  checkpoint that verifies wins. Corrupt or partial ones are skipped with a warning naming
  them. If there is none at all, the fit starts fresh (with a warning), so the same command
  line works for the first launch and every restart.
- a checkpoint directory (holding ``MANIFEST.json``): exactly that one; it must verify.
- a checkpoints directory, or a run directory (holding ``run.json``): its newest valid one.

Where the resumed fit starts: at the checkpoint's step, in the middle of its epoch if it
was written there. A fit that ended by ``max_steps`` (or a stop request) before its epoch's
data ran out closed that epoch for the plugins, but its checkpoint records the epoch as cut
(see :class:`~unitrain.runs.replay.Replay`): resuming with a larger ``max_steps`` continues
that epoch with its next batch, as one uninterrupted run would have.

The loaded checkpoint gets ``checkpoint["resumed_from"] = str(path)`` before
:meth:`Trainer.load_state_dict`, so plugins see in ``on_load_checkpoint`` where it came from.
"""

from __future__ import annotations

import logging
import os
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

from unitrain.errors import CheckpointError, UnitrainWarning
from unitrain.runs.checkpoint import MANIFEST, load_checkpoint, newest_valid
from unitrain.runs.store import CHECKPOINTS, RUN_JSON

if TYPE_CHECKING:
    from unitrain.core.engine import Engine

__all__ = ["find_resume_checkpoint", "resume_fit"]

_log = logging.getLogger("unitrain.runs")


def resume_fit(trainer: Engine, resume: str | os.PathLike[str]) -> Path | None:
    """Load the checkpoint ``resume`` designates into ``trainer``; returns its path."""
    path = find_resume_checkpoint(trainer, resume)
    if path is None:
        return None
    checkpoint: dict[str, Any] = load_checkpoint(path)["state"]
    checkpoint["resumed_from"] = str(path)
    trainer.load_state_dict(checkpoint)
    _log.info("resumed from %s", path)
    return path


def find_resume_checkpoint(trainer: Engine, resume: str | os.PathLike[str]) -> Path | None:
    """The checkpoint directory to resume from (None: ``"latest"`` found nothing)."""
    if str(resume) == "latest":
        searched: list[Path] = []
        providers = 0
        for record in trainer.plugins:
            resume_dirs = getattr(record.plugin, "resume_dirs", None)
            if not callable(resume_dirs):
                continue
            providers += 1
            for directory in resume_dirs():
                searched.append(Path(directory))
                found, _ = newest_valid(directory)
                if found is not None:
                    return found
        if searched:
            where = ", ".join(map(str, searched))
        elif providers:
            where = "any earlier run (none was found)"
        else:
            where = "nowhere (register a RunStore or Checkpoint plugin to resume from)"
        warnings.warn(
            f"resume='latest': no committed checkpoint in {where}; starting from scratch",
            UnitrainWarning,
            stacklevel=3,
        )
        return None
    path = Path(resume)
    if (path / MANIFEST).exists():
        return path
    directory = path / CHECKPOINTS if (path / RUN_JSON).exists() else path
    if not directory.is_dir():
        raise CheckpointError(
            f"resume={str(resume)!r}: no such checkpoint or run directory; pass 'latest', a "
            "run directory (runs/<experiment>/<id>) or one of its checkpoints/<name> folders"
        )
    found, skipped = newest_valid(directory)
    if found is None:
        detail = f" ({len(skipped)} skipped as corrupt or partial)" if skipped else ""
        raise CheckpointError(f"resume={str(resume)!r}: no valid checkpoint in {directory}{detail}")
    return found
