"""What distribution adds to checkpoints: the world size, checked on resume, and sharded
(FSDP2) checkpoints through ``torch.distributed.checkpoint``.

Every checkpoint records how many processes wrote it (:class:`WorldSizeCheck`, registered by
every trainer, also single-process ones, as the stateful plugin ``"distributed"``). Resuming
with another number of processes is refused with a message naming both sizes: the data order
of the distributed sampler, each rank's random streams and the sampler positions would not
continue exactly.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from unitrain.core.state import State
from unitrain.errors import CheckpointError

__all__ = ["WorldSizeCheck", "check_world_size", "load_sharded", "save_sharded"]


class WorldSizeCheck:
    """Records the world size in every checkpoint and refuses to resume with another one.

    A stateful plugin (``state_dict`` / ``load_state_dict``, saved under
    ``checkpoint["plugins"]["distributed"]``), registered by every trainer as
    ``"distributed"``; in a distributed run :class:`~unitrain.distributed.plugin.
    DistributedPlugin` takes its place and adds every rank's random state.
    """

    ranks = "all"

    def __init__(self, state: State) -> None:
        self._state = state

    def state_dict(self) -> dict[str, Any]:
        """``{"world_size": ...}``."""
        return {"world_size": self._state.world_size}

    def load_state_dict(self, saved: dict[str, Any]) -> None:
        """Raise CheckpointError when the checkpoint's world size differs from this run's."""
        check_world_size(int(saved["world_size"]), self._state.world_size)

    def on_before_load_checkpoint(self, state: State, checkpoint: dict[str, Any]) -> None:
        """Refuse a checkpoint of another world size before the engine loads any of it: this
        plugin's entry, or else (its state was dropped) the engine's ``world_size``."""
        saved = checkpoint.get("plugins", {}).get("distributed")
        if isinstance(saved, dict) and "world_size" in saved:
            check_world_size(int(saved["world_size"]), state.world_size)
        elif checkpoint.get("world_size") is not None:
            check_world_size(int(checkpoint["world_size"]), state.world_size)


def check_world_size(saved: int, current: int) -> None:
    """Refuse to resume a checkpoint written by a different number of processes."""
    if saved != current:
        raise CheckpointError(
            f"this checkpoint was written by a run of {saved} process(es), and this run has "
            f"{current}: the data order, the per-rank random streams and the sampler "
            f"positions would not continue exactly. Resume with {saved} process(es) (e.g. "
            f"devices='cpu:{saved}' or torchrun --nproc-per-node {saved}), or load only the "
            "model weights (trainer.state.model.load_state_dict(checkpoint['model']))"
        )


def save_sharded(state: State, path: str | Path) -> None:
    """Save the model and optimizers of an FSDP2 run as a sharded checkpoint (every rank
    writes its own shards; call it on every rank)."""
    from torch.distributed.checkpoint.state_dict import get_state_dict
    from torch.distributed.checkpoint.state_dict_saver import save

    assert state.model is not None
    model, optimizers = get_state_dict(state.model, list(state.optimizers))
    position = torch.tensor([state.epoch, state.global_step, state.micro_step, state.world_size])
    save(
        {"model": model, "optimizers": optimizers, "position": position},
        checkpoint_id=str(path),
    )


def load_sharded(state: State, path: str | Path) -> None:
    """Load what :func:`save_sharded` wrote into the (already sharded) model and optimizers
    of this run; call it on every rank, after the optimizers exist."""
    from torch.distributed.checkpoint.state_dict import get_state_dict, set_state_dict
    from torch.distributed.checkpoint.state_dict_loader import load

    assert state.model is not None
    if not Path(path).exists():
        raise CheckpointError(f"load_sharded: {path} does not exist")
    model, optimizers = get_state_dict(state.model, list(state.optimizers))
    position = torch.zeros(4, dtype=torch.int64)
    content: dict[str, Any] = {"model": model, "optimizers": optimizers, "position": position}
    load(content, checkpoint_id=str(path))
    check_world_size(int(position[3]), state.world_size)
    set_state_dict(
        state.model,
        list(state.optimizers),
        model_state_dict=content["model"],
        optim_state_dict=content["optimizers"],
    )
    state.epoch, state.global_step, state.micro_step = (int(v) for v in position[:3].tolist())
