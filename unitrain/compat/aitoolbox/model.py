"""aitoolbox's model contract: ``TTModel``, ``ModelWrap``, ``MultiLoss``, ``MultiOptimizer``."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from typing import Any

import torch
from torch import nn

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
    """

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

    def transfer_model_attributes(self) -> list[str]:
        """Attribute names a data-parallel wrapper should expose (kept for compatibility)."""
        return []


class TTBasicModel(TTModel):
    """A ``TTModel`` for ``(inputs, targets)`` batches: ``criterion(self(x), y)``."""

    def get_loss(self, batch_data: Any, criterion: Any, device: torch.device) -> Any:
        inputs, targets = batch_data[0].to(device), batch_data[1].to(device)
        return criterion(self(inputs), targets)

    def get_predictions(
        self, batch_data: Any, device: torch.device
    ) -> tuple[Any, Any, dict[str, Any] | None]:
        inputs, targets = batch_data[0].to(device), batch_data[1]
        return self(inputs).cpu(), targets.cpu(), None


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


class MultiLoss(dict[str, torch.Tensor]):
    """Several named losses, each backpropagated for its own optimizer.

    ``loss_optimizer_map`` maps a loss name to an optimizer index (default: the i-th loss to
    optimizer i). ``retain_graph_until_last`` keeps the graph for every backward pass but
    the last, so losses may share a graph.
    """

    def __init__(
        self,
        loss_dict: dict[str, torch.Tensor],
        loss_optimizer_map: dict[str, int] | None = None,
        retain_graph_until_last: bool = True,
    ) -> None:
        super().__init__(loss_dict)
        if not loss_dict:
            raise ConfigError("MultiLoss: the loss dict is empty; give at least one loss")
        self.loss_optimizer_map = (
            {name: index for index, name in enumerate(loss_dict)}
            if loss_optimizer_map is None
            else dict(loss_optimizer_map)
        )
        missing = sorted(set(loss_dict) - set(self.loss_optimizer_map))
        if missing:
            raise ConfigError(f"MultiLoss: losses {missing} have no entry in loss_optimizer_map")
        self.retain_graph_until_last = retain_graph_until_last

    def backward(
        self,
        optimizer_idx: int,
        iteration: int = 0,
        amp_grad_scaler: Any = None,
        divide_by: int = 1,
    ) -> None:
        """Backpropagate the losses mapped to ``optimizer_idx`` (divided by ``divide_by``)."""
        last = max(self.loss_optimizer_map.values())
        for name, index in self.loss_optimizer_map.items():
            if index != optimizer_idx:
                continue
            loss = self[name] if divide_by == 1 else self[name] / divide_by
            if amp_grad_scaler is not None:
                loss = amp_grad_scaler.scale(loss)
            retain = self.retain_graph_until_last and optimizer_idx != last
            torch.autograd.backward(loss, retain_graph=retain)

    def total(self) -> torch.Tensor:
        """The sum of the losses (for reporting)."""
        values = list(self.values())
        total = values[0]
        for value in values[1:]:
            total = total + value
        return total

    def item(self) -> dict[str, float]:
        """Every loss as a Python float."""
        return {name: float(value.item()) for name, value in self.items()}


class MultiOptimizer:
    """Several optimizers used together; each is stepped and zeroed by the engine in turn."""

    def __init__(self, optimizer_list: Sequence[torch.optim.Optimizer]) -> None:
        optimizers = list(optimizer_list)
        if not optimizers or not all(isinstance(o, torch.optim.Optimizer) for o in optimizers):
            raise ConfigError(
                f"MultiOptimizer: expected a non-empty list of torch optimizers, got "
                f"{[type(o).__name__ for o in optimizers]}"
            )
        self.optimizer_list = optimizers

    def step(self, optimizer_idx: int, iteration: int = 0, amp_grad_scaler: Any = None) -> None:
        """Step one optimizer (through the scaler when given)."""
        optimizer = self.optimizer_list[optimizer_idx]
        if amp_grad_scaler is None:
            optimizer.step()
        else:
            amp_grad_scaler.step(optimizer)

    def zero_grad(self, optimizer_idx: int | None = None, iteration: int = 0) -> None:
        """Zero one optimizer's gradients, or every optimizer's."""
        chosen = self.optimizer_list if optimizer_idx is None else [self[optimizer_idx]]
        for optimizer in chosen:
            optimizer.zero_grad(set_to_none=True)

    def state_dict(self) -> list[dict[str, Any]]:
        """Each optimizer's state dict, in order."""
        return [optimizer.state_dict() for optimizer in self.optimizer_list]

    def load_state_dict(self, state_dict_list: Sequence[dict[str, Any]]) -> None:
        """Restore what :meth:`state_dict` returned."""
        if len(state_dict_list) != len(self.optimizer_list):
            raise ConfigError(
                f"MultiOptimizer.load_state_dict: got {len(state_dict_list)} states for "
                f"{len(self.optimizer_list)} optimizers"
            )
        for optimizer, state in zip(self.optimizer_list, state_dict_list, strict=True):
            optimizer.load_state_dict(state)

    def __len__(self) -> int:
        return len(self.optimizer_list)

    def __getitem__(self, index: int) -> torch.optim.Optimizer:
        return self.optimizer_list[index]

    def __iter__(self) -> Iterator[torch.optim.Optimizer]:
        return iter(self.optimizer_list)
