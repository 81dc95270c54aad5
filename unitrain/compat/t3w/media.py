"""t3w's media producers: modules that turn a minibatch into figures / images / text.

A loop given ``medias=[...]`` calls each producer's ``forward(mb)`` after every step (train
and eval) and keeps the latest outputs in ``loop.medias.get_latest_output()``, where a side
effect (t3w's Aim one) picks them up; producers hear ``on_epoch_start`` / ``on_epoch_end``
around each epoch and each evaluation pass. In a distributed run the outputs of every rank
are gathered on rank 0, as in t3w.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Any

import torch.distributed as dist
from torch import nn

from unitrain.compat.t3w.contract import Interface
from unitrain.errors import ConfigError

__all__ = ["IMediaProducer", "MediaData", "MediaManager", "MediaType"]


class MediaType(str, Enum):  # noqa: UP042 - t3w's class: str() gives the member name
    """What a :class:`MediaData` holds (the values are t3w's)."""

    IMAGE_PIL = "pillow"
    FIGURE_MPL = "matplotlib"
    FIGURE_PX = "plotly"
    TEXT = "str"


@dataclass
class MediaData:
    """One produced medium: the object, its kind and a note (used as the logged context)."""

    media_data: Any
    media_type: MediaType
    media_note: str


class IMediaProducer(nn.Module, Interface):
    """Override ``forward(mb) -> Sequence[MediaData]``; the epoch hooks are optional."""

    def on_epoch_start(self) -> None:
        """An epoch (or an evaluation pass) begins."""

    def forward(self, mb: Any) -> Sequence[MediaData]:
        """The media of one minibatch (already through the model)."""
        return []

    def on_epoch_end(self) -> None:
        """An epoch (or an evaluation pass) ends."""


class MediaManager:
    """Runs a loop's producers and keeps their latest outputs."""

    def __init__(self, medias: Sequence[IMediaProducer] = ()) -> None:
        for producer in medias:
            if not isinstance(producer, IMediaProducer):
                raise ConfigError(
                    f"medias=[...]: {producer!r} is not an IMediaProducer; subclass "
                    "IMediaProducer and return a list of MediaData from forward(mb)"
                )
        self.producers = list(medias)
        self.output_cache: list[MediaData] = []

    def __len__(self) -> int:
        return len(self.producers)

    def get_latest_output(self) -> list[MediaData]:
        """The media of the latest step (on rank 0: of every rank)."""
        return self.output_cache

    def update_and_sync(self, mb: Any) -> None:
        """Run every producer on ``mb``; gather the outputs on rank 0 in a distributed run."""
        if not self.producers:
            return
        medias: list[MediaData] = []
        for producer in self.producers:
            produced = producer(mb)
            if not isinstance(produced, Sequence) or not all(
                isinstance(item, MediaData) for item in produced
            ):
                raise TypeError(
                    f"media producer {type(producer).__name__} returned {type(produced).__name__};"
                    " expected a list of MediaData"
                )
            medias += produced
        if dist.is_available() and dist.is_initialized():
            gathered: list[Any] = [None] * dist.get_world_size()
            rank = dist.get_rank()
            dist.gather_object(medias, gathered if rank == 0 else None, dst=0)
            medias = [item for part in gathered for item in (part or [])] if rank == 0 else []
        self.output_cache = medias

    def notify(self, event: str) -> None:
        """Call ``on_epoch_start`` / ``on_epoch_end`` of every producer."""
        for producer in self.producers:
            getattr(producer, event)()
