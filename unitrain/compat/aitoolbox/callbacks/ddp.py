"""``DistributedSamplerSetEpoch``: reshuffle distributed samplers every epoch."""

from __future__ import annotations

from typing import Any

from unitrain.compat.aitoolbox.abstract import AbstractCallback

__all__ = ["DistributedSamplerSetEpoch"]


class DistributedSamplerSetEpoch(AbstractCallback):
    """At each epoch's start, ``set_epoch(train_loop_obj.epoch)`` on the given samplers.

    The engine already does this for the train loader's sampler; this callback covers the
    samplers a user built for the validation and test loaders, as aitoolbox's did.
    """

    def __init__(self, train_sampler: Any, validation_sampler: Any, test_sampler: Any) -> None:
        super().__init__(
            "set_epoch for DistributedSamplers at the start of each epoch", execution_order=-100
        )
        self.train_sampler = train_sampler
        self.validation_sampler = validation_sampler
        self.test_sampler = test_sampler

    def on_epoch_begin(self) -> None:
        epoch = self.train_loop_obj.epoch
        for sampler in (self.train_sampler, self.validation_sampler, self.test_sampler):
            if sampler is not None:
                sampler.set_epoch(epoch)
