"""``HarderBatchSampler``: hard-example mining, a batch sampler that is also a side effect."""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence
from typing import Any

import torch
import torch.distributed as dist
from torch.utils.data import Sampler

from unitrain.compat.t3w.contract import StepReturnDict
from unitrain.compat.t3w.side_effect import ISideEffect
from unitrain.errors import ConfigError

__all__ = ["HarderBatchSampler"]


class HarderBatchSampler(Sampler[list[int]], ISideEffect):
    """Draws batches with replacement, weighting each sample by how hard it was last time.

    After each training step the per-sample ``raw_output`` of the losses / metrics named in
    ``based_on`` (losses times their ``loss_reweight``) is summed, soft-maxed over the batch
    and becomes the drawn samples' new weights. Give it to ``TrainLoop(batch_sampler=...)``;
    the loop registers it as a side effect itself. Needs ``num_workers == 0`` (the weights
    must belong to the batch being trained).
    """

    def __init__(
        self, dataset: Any, based_on: Sequence[str], batch_size: int | None = None
    ) -> None:
        if not based_on:
            raise ConfigError("HarderBatchSampler: 'based_on' must name at least one loss/metric")
        self.num_samples = len(dataset)
        self.indices = list(range(self.num_samples))
        self.weights = [1.0] * self.num_samples
        self.based_on = list(based_on)
        self.batch_size = batch_size or dataset.datum_type.train_batch_size
        self.batch_indices: list[int] = []

    def on_train_step_finished(
        self, loop: Any, step: int, mb: Any, step_return: StepReturnDict
    ) -> None:
        total: torch.Tensor | None = None
        for key in self.based_on:
            if key in loop.losses:
                loss = loop.losses[key]
                score = loss.loss_reweight * loss.raw_output.detach().flatten()
            elif key in loop.metrics:
                score = loop.metrics[key].raw_output.detach().flatten()
            else:
                raise ConfigError(
                    f"HarderBatchSampler: based_on names {key!r}, which is neither a loss "
                    f"({sorted(loop.losses)}) nor a metric ({sorted(loop.metrics)}) of the loop"
                )
            if len(score) != self.batch_size:
                raise ConfigError(
                    f"HarderBatchSampler: {key!r} gave {len(score)} values for a batch of "
                    f"{self.batch_size}; it must return one value per sample"
                )
            total = score if total is None else total + score
        assert total is not None
        scores = (total.float().softmax(0) * self.batch_size).tolist()
        for index, value in zip(self.batch_indices, scores, strict=False):
            self.weights[index] = value
        self.batch_indices = []

    def __iter__(self) -> Iterator[list[int]]:
        return self

    def __next__(self) -> list[int]:
        self.batch_indices = random.choices(self.indices, self.weights, k=self.batch_size)
        return self.batch_indices

    def __len__(self) -> int:
        """Batches per epoch (t3w returned the sample count here when not distributed)."""
        replicas = dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1
        return max(1, self.num_samples // replicas // self.batch_size)
