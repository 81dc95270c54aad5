"""FSDP2 checkpoints in the single-process format, through ``torch.distributed.checkpoint``.

Under FSDP2 every parameter is a ``DTensor`` holding one rank's shard, and so is the
optimizer state: ``model.state_dict()`` on rank 0 is half a model. A checkpoint of every rank
(:func:`unitrain.distributed.full_state_dict`, which the ``Checkpoint`` plugin calls on every
rank) therefore replaces the model and optimizer entries by the **full** state gathered with
``torch.distributed.checkpoint.state_dict`` (``get_model_state_dict`` /
``get_optimizer_state_dict`` with ``full_state_dict=True, cpu_offload=True``: gathered on
rank 0's CPU, the other ranks get nothing, so no rank holds the whole model on its device).
The optimizer state is written back under the integer parameter ids of ``Optimizer.
state_dict()``, so the file is exactly what a one-process run writes: it loads in a fresh
process with ``load_checkpoint`` and into a plain model with ``load_state_dict``.

Loading into an FSDP2 run goes the other way (:func:`load_full_into_fsdp`): rank 0's full
tensors are broadcast and every rank keeps its shard (``broadcast_from_rank0=True``).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from unitrain.errors import CheckpointError

__all__ = ["full_checkpoint_entries", "is_sharded", "load_full_into_fsdp"]


def is_sharded(model: nn.Module) -> bool:
    """True when ``model``'s parameters are DTensors (FSDP2 / ``fully_shard``)."""
    from torch.distributed.tensor import DTensor

    return any(isinstance(p, DTensor) for p in model.parameters())


def _options(cpu_offload: bool = False, broadcast_from_rank0: bool = False) -> Any:
    from torch.distributed.checkpoint.state_dict import StateDictOptions

    return StateDictOptions(
        full_state_dict=True, cpu_offload=cpu_offload, broadcast_from_rank0=broadcast_from_rank0
    )


def _fqns_by_index(model: nn.Module, optimizer: torch.optim.Optimizer) -> list[str]:
    """The parameter names in the order of ``optimizer.state_dict()``'s integer ids."""
    names = {id(p): name for name, p in model.named_parameters(remove_duplicate=False)}
    order: list[str] = []
    for group in optimizer.param_groups:
        for parameter in group["params"]:
            if id(parameter) not in names:
                raise CheckpointError(
                    "an optimizer holds a parameter that is not the model's: under FSDP its "
                    "state cannot be gathered by name; make the optimizer from the task's model"
                )
            order.append(names[id(parameter)])
    return order


def full_checkpoint_entries(
    model: nn.Module, optimizers: tuple[torch.optim.Optimizer, ...], checkpoint: dict[str, Any]
) -> None:
    """Replace ``checkpoint``'s model and optimizer entries by the full state (a collective:
    every rank calls it; rank 0 gets the tensors, on the CPU, the other ranks empty entries).
    """
    from torch.distributed.checkpoint.state_dict import (
        get_model_state_dict,
        get_optimizer_state_dict,
    )

    if checkpoint.get("grads") is not None:
        raise CheckpointError(
            "an FSDP checkpoint was asked for inside a gradient-accumulation window: the "
            "gradients are not synchronised yet and cannot be saved whole. Save at a window "
            "end (the Checkpoint plugin and stop requests already wait for one)"
        )
    options = _options(cpu_offload=True)
    checkpoint["model"] = get_model_state_dict(model, options=options)
    saved = []
    for optimizer in optimizers:
        full = get_optimizer_state_dict(model, optimizer, options=options)
        saved.append(_by_index(full, _fqns_by_index(model, optimizer)) if full else {})
    checkpoint["optimizers"] = saved


def _by_index(full: dict[str, Any], order: list[str]) -> dict[str, Any]:
    index = {name: i for i, name in enumerate(order)}
    return {
        "state": {index[name]: value for name, value in full["state"].items()},
        "param_groups": [
            {**group, "params": [index[name] for name in group["params"]]}
            for group in full["param_groups"]
        ],
    }


def _by_name(saved: dict[str, Any], order: list[str]) -> dict[str, Any]:
    if len(order) != sum(len(g["params"]) for g in saved["param_groups"]):
        raise CheckpointError(
            f"the checkpoint's optimizer has "
            f"{sum(len(g['params']) for g in saved['param_groups'])} parameter(s), this "
            f"run's {len(order)}: it was written for another model or optimizer"
        )
    return {
        "state": {order[int(i)]: value for i, value in saved["state"].items()},
        "param_groups": [
            {**group, "params": [order[int(i)] for i in group["params"]]}
            for group in saved["param_groups"]
        ],
    }


def load_full_into_fsdp(
    model: nn.Module,
    optimizers: tuple[torch.optim.Optimizer, ...],
    checkpoint: dict[str, Any],
    rank: int,
) -> dict[str, Any]:
    """Shard a full (single-process format) checkpoint into this FSDP2 run; a collective.

    Rank 0's entries are broadcast (the other ranks' may be empty). Returns ``checkpoint``
    with the model and optimizer entries replaced by this rank's own sharded state, so that
    the engine's plain ``load_state_dict`` calls that follow load exactly what is there.
    """
    from torch.distributed.checkpoint.state_dict import (
        set_model_state_dict,
        set_optimizer_state_dict,
    )

    options = _options(broadcast_from_rank0=True)
    main = rank == 0
    model_state = checkpoint["model"] if main else {}
    if main and any(_is_dtensor(v) for v in model_state.values()):
        raise CheckpointError(
            "this checkpoint holds one rank's FSDP shards (DTensors), not the full model: it "
            "was written without gathering (trainer.state_dict() on one rank). Write "
            "checkpoints with unitrain.distributed.full_state_dict or the Checkpoint plugin"
        )
    set_model_state_dict(model, model_state, options=options)
    for optimizer, saved in zip(optimizers, checkpoint["optimizers"], strict=True):
        named = _by_name(saved, _fqns_by_index(model, optimizer)) if main and saved else {}
        set_optimizer_state_dict(model, optimizer, named, options=options)
    return {
        **checkpoint,
        "model": model.state_dict(),
        "optimizers": [optimizer.state_dict() for optimizer in optimizers],
    }


def _is_dtensor(value: object) -> bool:
    from torch.distributed.tensor import DTensor

    return isinstance(value, DTensor)
