"""aitoolbox's model contract: ``TTModel``, ``ModelWrap``, ``MultiLoss``, ``MultiOptimizer``."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

import torch
from torch import nn

from unitrain.compat.aitoolbox.multi_loss import MultiLoss, MultiOptimizer
from unitrain.errors import ConfigError

__all__ = [
    "AbstractModelFeedDefinition",
    "ModelWrap",
    "MultiLoss",
    "MultiOptimizer",
    "TTBasicModel",
    "TTModel",
]


class TTModel(nn.Module, ABC):
    """A model that knows how to compute its own loss and predictions from a raw batch.

    Implement ``get_loss(batch, criterion, device)`` (a loss tensor or a :class:`MultiLoss`)
    and ``get_predictions(batch, device)`` → ``(y_pred, y_true, metadata)``; override
    ``get_loss_eval`` when evaluation differs from training (it defaults to ``get_loss``).
    The batch arrives exactly as the loader yields it: move it to ``device`` yourself.
    ``transfer_model_attributes`` names the attributes a ``TTDataParallel`` /
    ``TTDistributedDataParallel`` wrapper copies to its own level, for the model's methods
    that run bound to the wrapper.
    """

    def __init__(self) -> None:
        super().__init__()
        self.transfer_model_attributes: list[str] | tuple[str, ...] = []

    @abstractmethod
    def get_loss(self, batch_data: Any, criterion: Any, device: torch.device) -> Any:
        """The training loss of one batch."""

    def get_loss_eval(self, batch_data: Any, criterion: Any, device: torch.device) -> Any:
        """The evaluation loss of one batch (by default the training loss)."""
        return self.get_loss(batch_data, criterion, device)

    @abstractmethod
    def get_predictions(
        self, batch_data: Any, device: torch.device
    ) -> tuple[Any, Any, dict[str, Any] | None]:
        """``(y_pred, y_true, metadata)`` of one batch."""


class TTBasicModel(TTModel):
    """A ``TTModel`` whose batch is ``(*inputs, targets)``: ``criterion(self(*inputs), targets)``.

    As in aitoolbox, every batch element but the last is an input of ``forward``; for the
    loss all are moved to ``device``; for predictions only the inputs are, and the targets
    come back where the loader left them, with metadata ``{}``.
    """

    def get_loss(self, batch_data: Any, criterion: Any, device: torch.device) -> Any:
        *inputs, targets = [data.to(device) for data in batch_data]
        return criterion(self(*inputs), targets)

    def get_predictions(
        self, batch_data: Any, device: torch.device
    ) -> tuple[Any, Any, dict[str, Any] | None]:
        *inputs, targets = batch_data
        return self(*[data.to(device) for data in inputs]), targets, {}


class AbstractModelFeedDefinition(ABC):
    """How a plain ``nn.Module`` computes loss and predictions (used with :class:`ModelWrap`)."""

    @abstractmethod
    def get_loss(
        self, model: nn.Module, batch_data: Any, criterion: Any, device: torch.device
    ) -> Any:
        """The training loss of one batch."""

    def get_loss_eval(
        self, model: nn.Module, batch_data: Any, criterion: Any, device: torch.device
    ) -> Any:
        """The evaluation loss of one batch (by default the training loss)."""
        return self.get_loss(model, batch_data, criterion, device)

    @abstractmethod
    def get_predictions(
        self, model: nn.Module, batch_data: Any, device: torch.device
    ) -> tuple[Any, Any, dict[str, Any] | None]:
        """``(y_pred, y_true, metadata)`` of one batch."""


class ModelWrap(nn.Module):
    """A plain ``nn.Module`` plus a feed definition, usable wherever a ``TTModel`` is."""

    def __init__(self, model: nn.Module, batch_model_feed_def: AbstractModelFeedDefinition) -> None:
        super().__init__()
        if not isinstance(batch_model_feed_def, AbstractModelFeedDefinition):
            raise ConfigError(
                f"ModelWrap(batch_model_feed_def=...): expected an AbstractModelFeedDefinition "
                f"subclass instance, got {type(batch_model_feed_def).__name__}"
            )
        self.model = model
        self.batch_model_feed_def = batch_model_feed_def

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        return self.model(*args, **kwargs)

    def get_loss(self, batch_data: Any, criterion: Any, device: torch.device) -> Any:
        """The feed definition's training loss."""
        return self.batch_model_feed_def.get_loss(self.model, batch_data, criterion, device)

    def get_loss_eval(self, batch_data: Any, criterion: Any, device: torch.device) -> Any:
        """The feed definition's evaluation loss."""
        return self.batch_model_feed_def.get_loss_eval(self.model, batch_data, criterion, device)

    def get_predictions(
        self, batch_data: Any, device: torch.device
    ) -> tuple[Any, Any, dict[str, Any] | None]:
        """The feed definition's predictions."""
        return self.batch_model_feed_def.get_predictions(self.model, batch_data, device)
