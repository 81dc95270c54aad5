"""What distribution adds to checkpoints: the world size, checked on resume, and sharded
(FSDP2) checkpoints through ``torch.distributed.checkpoint``.

Every checkpoint records how many processes wrote it (:class:`WorldSizeCheck`, registered by
every trainer, also single-process ones, as the stateful plugin ``"distributed"``). Resuming
with another number of processes is refused with a message naming both sizes: the data order
of the distributed sampler, each rank's random streams and the sampler positions would not
continue exactly.
"""

from __future__ import annotations

import contextlib
import shutil
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist

from unitrain.core.state import State
from unitrain.errors import CheckpointError

__all__ = [
    "WorldSizeCheck",
    "check_world_size",
    "load_sharded",
    "save_sharded",
    "verify_sharded",
]


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


def save_sharded(state: State, directory: str | Path, name: str | None = None) -> Path:
    """Save the model and optimizers as a sharded checkpoint through
    ``torch.distributed.checkpoint`` (DCP): every rank writes its own shards. Call it on
    every rank; returns the committed directory ``directory / name`` (default
    ``step-<global step>``).

    The write follows the checkpoint protocol of :mod:`unitrain.runs.checkpoint`: DCP writes
    into a temporary directory beside the target, then rank 0 hashes every file (the
    ``.distcp`` shards and DCP's ``.metadata``) into ``MANIFEST.json`` and commits it with a
    rename, so a crash leaves either the previous checkpoints or a complete new one.
    """
    from torch.distributed.checkpoint.state_dict import get_state_dict
    from torch.distributed.checkpoint.state_dict_saver import save

    from unitrain.runs.checkpoint import commit_directory, temporary_directory

    assert state.model is not None
    name = name or f"step-{state.global_step:09d}"
    grouped = dist.is_available() and dist.is_initialized()
    rank = dist.get_rank() if grouped else 0
    holder: list[str | None] = [str(temporary_directory(directory, name)) if rank == 0 else None]
    if grouped:
        dist.broadcast_object_list(holder, src=0)  # every rank writes into rank 0's directory
    tmp = Path(str(holder[0]))
    model, optimizers = get_state_dict(state.model, list(state.optimizers))
    position = torch.tensor([state.epoch, state.global_step, state.micro_step, state.world_size])
    try:
        with _single_process_quietly():
            save(
                {"model": model, "optimizers": optimizers, "position": position}, checkpoint_id=tmp
            )
    except BaseException:
        if rank == 0:
            shutil.rmtree(tmp, ignore_errors=True)
        raise
    target = Path(directory) / name
    if rank == 0:  # DCP's save returns on every rank once all shards and the metadata exist
        meta = {
            "kind": "torch.distributed.checkpoint",
            "world_size": state.world_size,
            "position": {"epoch": state.epoch, "global_step": state.global_step},
        }
        commit_directory(directory, name, tmp, meta=meta)
    if grouped:
        dist.barrier()  # no rank reads it before it is committed
    return target


def load_sharded(state: State, path: str | Path, *, reshard: bool = False) -> None:
    """Load what :func:`save_sharded` wrote into this run's model and optimizers (already
    sharded under FSDP2, or plain in one process); call it on every rank, after the
    optimizers exist. The manifest is verified first (every shard's size and sha256).

    Another number of processes is refused unless ``reshard=True``: DCP then reshards the
    weights and optimizer state to this run's layout (the position is restored too, but the
    data order and random streams of the old ranks do not carry over).
    """
    from torch.distributed.checkpoint.state_dict import get_state_dict, set_state_dict
    from torch.distributed.checkpoint.state_dict_loader import load

    assert state.model is not None
    if not Path(path).exists():
        raise CheckpointError(f"load_sharded: {path} does not exist")
    verify_sharded(path)
    model, optimizers = get_state_dict(state.model, list(state.optimizers))
    position = torch.zeros(4, dtype=torch.int64)
    content: dict[str, Any] = {"model": model, "optimizers": optimizers, "position": position}
    with _single_process_quietly():
        load({"position": position}, checkpoint_id=str(path))
    if not reshard and int(position[3]) != state.world_size:
        raise CheckpointError(
            f"load_sharded: {path} was written by {int(position[3])} process(es) and this run "
            f"has {state.world_size}. Pass reshard=True to load the weights and optimizer "
            "state resharded to this run (DCP reshards; the data order and the per-rank random "
            f"streams do not carry over), or load it with {int(position[3])} process(es)"
        )
    with _single_process_quietly():
        load(content, checkpoint_id=str(path))
    set_state_dict(
        state.model,
        list(state.optimizers),
        model_state_dict=content["model"],
        optim_state_dict=content["optimizers"],
    )
    state.epoch, state.global_step, state.micro_step = (int(v) for v in position[:3].tolist())


@contextlib.contextmanager
def _single_process_quietly() -> Iterator[None]:
    # without a process group DCP warns that it assumes one process: here that is the intent
    with warnings.catch_warnings():
        if not (dist.is_available() and dist.is_initialized()):
            warnings.filterwarnings("ignore", message="torch.distributed is disabled")
        yield


def verify_sharded(path: str | Path) -> dict[str, Any]:
    """Check a :func:`save_sharded` checkpoint against its manifest (every shard's and DCP
    metadata's size and sha256); returns the manifest. DCP's files are not ``torch.save``
    files, so :func:`unitrain.runs.checkpoint.verify_checkpoint` does not take them."""
    import json

    from unitrain.runs.checkpoint import MANIFEST, sha256_of

    folder = Path(path)
    try:
        manifest: dict[str, Any] = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise CheckpointError(
            f"{folder} is not a committed sharded checkpoint: {MANIFEST} cannot be read "
            f"({error}); the write did not finish"
        ) from None
    if manifest.get("kind") != "torch.distributed.checkpoint":
        raise CheckpointError(f"{folder} was not written by save_sharded")
    for name, entry in manifest["files"].items():
        file_path = folder / name
        try:
            size, digest = sha256_of(file_path)
        except OSError as error:
            raise CheckpointError(f"checkpoint file {file_path} cannot be read: {error}") from None
        if size != entry["bytes"] or digest != entry["sha256"]:
            raise CheckpointError(
                f"checkpoint file {file_path} is corrupt: expected {entry['bytes']} bytes with "
                f"sha256 {entry['sha256'][:12]}…, found {size} bytes with sha256 {digest[:12]}…"
            )
    return manifest
