"""``DDPHandler``: give a train loop's loaders distributed samplers.

The engine shards its own loaders when it runs distributed; this handler is aitoolbox's
explicit form, for code that builds the per-rank loaders itself: each loader is rebuilt
with a ``DistributedSampler`` (shuffling when the original shuffled) and a
:class:`~.callbacks.ddp.DistributedSamplerSetEpoch` is registered.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from torch.utils.data import DataLoader, RandomSampler
from torch.utils.data.distributed import DistributedSampler

from unitrain.compat.aitoolbox.callbacks.ddp import DistributedSamplerSetEpoch
from unitrain.errors import ConfigError

if TYPE_CHECKING:
    from unitrain.compat.aitoolbox.train_loop import TrainLoop

__all__ = ["DDPHandler"]

_LOADERS = ("train_loader", "validation_loader", "test_loader")


class DDPHandler:
    """Distributed samplers for the loaders of ``train_loop_obj``."""

    def __init__(self, train_loop_obj: TrainLoop) -> None:
        self.train_loop_obj = train_loop_obj

    def add_distributed_samplers(self, world_size: int, rank: int) -> None:
        """Rebuild every loader with a ``DistributedSampler`` for ``rank`` of ``world_size``."""
        loop = self.train_loop_obj
        samplers: list[Any] = []
        for attribute in _LOADERS:
            loader = getattr(loop, attribute)
            sampler = None
            if loader is not None:
                shuffle = isinstance(getattr(loader, "sampler", None), RandomSampler)
                loader, sampler = self.build_loader_sampler(loader, shuffle, world_size, rank)
                setattr(loop, attribute, loader)
            samplers.append(sampler)
        loop.callbacks_handler.register_callbacks([DistributedSamplerSetEpoch(*samplers)])

    @staticmethod
    def build_loader_sampler(
        data_loader: Any, shuffle: bool, world_size: int, rank: int
    ) -> tuple[DataLoader[Any], DistributedSampler[Any]]:
        """A copy of ``data_loader`` reading through a new ``DistributedSampler``."""
        if not isinstance(data_loader, DataLoader):
            raise ConfigError(
                f"DDPHandler.build_loader_sampler: expected a torch DataLoader, got "
                f"{type(data_loader).__name__}"
            )
        sampler: DistributedSampler[Any] = DistributedSampler(
            data_loader.dataset, num_replicas=world_size, rank=rank, shuffle=shuffle
        )
        made = DataLoader(
            data_loader.dataset,
            batch_size=data_loader.batch_size,
            shuffle=False,
            sampler=sampler,
            num_workers=data_loader.num_workers,
            collate_fn=data_loader.collate_fn,
            pin_memory=data_loader.pin_memory,
            drop_last=data_loader.drop_last,
            timeout=data_loader.timeout,
            worker_init_fn=data_loader.worker_init_fn,
        )
        return made, sampler
