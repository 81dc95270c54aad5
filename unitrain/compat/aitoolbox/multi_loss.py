"""``MultiLoss`` and ``MultiOptimizer``: several losses, each stepped by its own optimizer.

As in aitoolbox: ``MultiLoss`` is a mapping of named losses; its ``backward(optimizer_idx,
iteration, amp_grad_scaler)`` backpropagates the loss mapped to that optimizer (keeping the
graph until the last one when ``retain_graph_until_last``); arithmetic (``/``, ``detach``,
``item``, ``cpu``, ``to``) returns a new ``MultiLoss`` with the same mapping and backward
count. ``MultiOptimizer.step`` / ``zero_grad`` act on one optimizer by index.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, MutableMapping, Sequence
from typing import Any

from unitrain.errors import ConfigError

__all__ = ["MultiLoss", "MultiOptimizer"]


class MultiLoss(MutableMapping[str, Any]):
    """Named losses; loss ``k`` is backpropagated for optimizer ``loss_optimizer_map[k]``
    (default: the i-th loss for optimizer i)."""

    def __init__(
        self,
        loss_dict: dict[str, Any],
        loss_optimizer_map: dict[str, int] | None = None,
        retain_graph_until_last: bool = True,
    ) -> None:
        if not isinstance(loss_dict, dict) or not loss_dict:
            raise ConfigError(
                f"MultiLoss(loss_dict={loss_dict!r}): expected a non-empty dict of name → loss"
            )
        self.loss_dict = loss_dict
        self.loss_backward_remaining = len(loss_dict)
        self.loss_optimizer_map = loss_optimizer_map
        self.retain_graph_until_last = retain_graph_until_last
        if loss_optimizer_map is None:
            self.optimizer_loss_map = dict(enumerate(loss_dict))
        else:
            if len(loss_optimizer_map) != len(loss_dict):
                raise ConfigError(
                    f"MultiLoss: loss_optimizer_map has {len(loss_optimizer_map)} entries for "
                    f"{len(loss_dict)} losses; map every loss name to one optimizer index"
                )
            self.optimizer_loss_map = {int(v): str(k) for k, v in loss_optimizer_map.items()}

    def backward(self, optimizer_idx: int, iteration: int = 0, amp_grad_scaler: Any = None) -> None:
        """Backpropagate the loss of optimizer ``optimizer_idx`` (scaled when a scaler is on)."""
        if optimizer_idx not in self.optimizer_loss_map:
            raise ConfigError(
                f"MultiLoss.backward(optimizer_idx={optimizer_idx}): no loss is mapped to that "
                f"optimizer (mapping: {self.optimizer_loss_map})"
            )
        loss = self.loss_dict[self.optimizer_loss_map[optimizer_idx]]
        if amp_grad_scaler is not None:
            loss = amp_grad_scaler.scale(loss)
        if self.retain_graph_until_last and self.loss_backward_remaining > 1:
            loss.backward(retain_graph=True)
        else:
            loss.backward()
        self.loss_backward_remaining -= 1

    def _map(self, change: Callable[[Any], Any]) -> MultiLoss:
        made = MultiLoss(
            {name: change(loss) for name, loss in self.loss_dict.items()},
            self.loss_optimizer_map,
            self.retain_graph_until_last,
        )
        made.loss_backward_remaining = self.loss_backward_remaining
        return made

    def item(self) -> MultiLoss:
        """Every loss as a Python number (a new ``MultiLoss``)."""
        return self._map(lambda loss: loss.item())

    def numpy(self) -> MultiLoss:
        """Every loss as a numpy value."""
        return self._map(lambda loss: loss.numpy())

    def detach(self) -> MultiLoss:
        """Every loss detached from the graph."""
        return self._map(lambda loss: loss.detach())

    def __truediv__(self, grad_accumulation: Any) -> MultiLoss:
        return self._map(lambda loss: loss / grad_accumulation)

    def cpu(self, *args: Any, **kwargs: Any) -> MultiLoss:
        """Every loss moved to the CPU."""
        return self._map(lambda loss: loss.cpu(*args, **kwargs))

    def cuda(self, *args: Any, **kwargs: Any) -> MultiLoss:
        """Every loss moved to CUDA."""
        return self._map(lambda loss: loss.cuda(*args, **kwargs))

    def to(self, *args: Any, **kwargs: Any) -> MultiLoss:
        """Every loss moved / cast with ``Tensor.to``."""
        return self._map(lambda loss: loss.to(*args, **kwargs))

    @property
    def device(self) -> dict[str, Any]:
        """Each loss's device."""
        return {name: loss.device for name, loss in self.loss_dict.items()}

    def get_loss_dict(self) -> dict[str, Any]:
        """The underlying dict."""
        return self.loss_dict

    def total(self) -> Any:
        """The sum of the losses (what the engine reports as ``loss`` of an eval pass)."""
        values = list(self.loss_dict.values())
        total = values[0]
        for value in values[1:]:
            total = total + value
        return total

    def __getitem__(self, key: str) -> Any:
        return self.loss_dict[key]

    def __setitem__(self, key: str, value: Any) -> None:
        self.loss_dict[key] = value

    def __delitem__(self, key: str) -> None:
        del self.loss_dict[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self.loss_dict)

    def __len__(self) -> int:
        return len(self.loss_dict)

    def __repr__(self) -> str:
        return f"MultiLoss({self.loss_dict!r})"


def _check_optimizer(candidate: object, where: str) -> None:
    if not (
        callable(getattr(candidate, "step", None))
        and callable(getattr(candidate, "zero_grad", None))
    ):
        raise ConfigError(
            f"{where}: {type(candidate).__name__} is not an optimizer (it needs callable step() "
            "and zero_grad(); state_dict() to be saved in checkpoints)"
        )


class MultiOptimizer:
    """Several optimizers; the loop steps and zeroes each by its index."""

    def __init__(self, optimizer_list: Sequence[Any]) -> None:
        optimizers = list(optimizer_list)
        if not optimizers:
            raise ConfigError("MultiOptimizer([]): give at least one optimizer")
        for index, optimizer in enumerate(optimizers):
            _check_optimizer(optimizer, f"MultiOptimizer(optimizer_list[{index}])")
        self.optimizer_list = optimizers

    def step(self, optimizer_idx: int, iteration: int = 0, amp_grad_scaler: Any = None) -> None:
        """Step optimizer ``optimizer_idx`` (through the scaler when given)."""
        optimizer = self.optimizer_list[optimizer_idx]
        if amp_grad_scaler is None:
            optimizer.step()
        else:
            amp_grad_scaler.step(optimizer)

    def zero_grad(self, optimizer_idx: int | None = None, iteration: int = 0) -> None:
        """Zero optimizer ``optimizer_idx``'s gradients (every optimizer's with ``None``)."""
        chosen = self.optimizer_list if optimizer_idx is None else [self[optimizer_idx]]
        for optimizer in chosen:
            optimizer.zero_grad()

    def state_dict(self) -> list[Any]:
        """Each optimizer's state dict, in order."""
        return [optimizer.state_dict() for optimizer in self.optimizer_list]

    def load_state_dict(self, state_dict_list: list[Any]) -> None:
        """Restore what :meth:`state_dict` returned."""
        if not isinstance(state_dict_list, list):
            raise ConfigError(
                f"MultiOptimizer.load_state_dict: expected a list of state dicts, got "
                f"{type(state_dict_list).__name__}"
            )
        if len(state_dict_list) != len(self.optimizer_list):
            raise ConfigError(
                f"MultiOptimizer.load_state_dict: got {len(state_dict_list)} states for "
                f"{len(self.optimizer_list)} optimizers"
            )
        for optimizer, state in zip(self.optimizer_list, state_dict_list, strict=True):
            optimizer.load_state_dict(state)

    def __len__(self) -> int:
        return len(self.optimizer_list)

    def __getitem__(self, index: int) -> Any:
        return self.optimizer_list[index]

    def __iter__(self) -> Iterator[Any]:
        return iter(self.optimizer_list)
