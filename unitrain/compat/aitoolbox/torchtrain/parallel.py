"""``aitoolbox.torchtrain.parallel``: data-parallel wrappers that keep the ``TTModel`` methods.

A ``TTModel``'s ``get_loss`` calls ``self(...)``; wrapped in ``DataParallel`` /
``DistributedDataParallel`` that call must reach the wrapper's ``forward`` (which splits the
batch, or synchronises gradients). So, as aitoolbox did, the model's own methods are bound
to the wrapper: ``get_loss`` / ``get_loss_eval`` / ``get_predictions`` and every other method
the model's class adds, with the attributes named in ``transfer_model_attributes`` copied to
the wrapper. Any other model attribute is unreachable from those methods (an
``AttributeError``), as in aitoolbox.
"""

from __future__ import annotations

import types
from collections.abc import Sequence
from typing import Any

from torch import nn
from torch.nn.parallel import DistributedDataParallel

from unitrain.errors import ConfigError

__all__ = ["TTDataParallel", "TTDistributedDataParallel", "TTParallelBase"]

_CORE = ("get_loss", "get_loss_eval", "get_predictions")


def _model_methods(module: nn.Module, skip: Sequence[str]) -> dict[str, Any]:
    """The functions ``module``'s classes add on top of ``nn.Module`` (name → function)."""
    module_names = set(dir(nn.Module))
    found: dict[str, Any] = {}
    for klass in reversed(type(module).__mro__):
        if klass is object or issubclass(nn.Module, klass):
            continue
        for name, value in vars(klass).items():
            if isinstance(value, types.FunctionType) and name not in module_names:
                found[name] = value
    for name in (*skip, *module._modules):
        found.pop(name, None)
    return found


class TTParallelBase:
    """Binds the wrapped model's methods to the wrapper and copies its transfer attributes."""

    def __init__(self, module: nn.Module, default_model_methods: Sequence[str] = _CORE) -> None:
        missing = [name for name in _CORE if not callable(getattr(module, name, None))]
        if missing:
            raise ConfigError(
                f"{type(self).__name__}(module=...): {type(module).__name__} has no "
                f"{', '.join(missing)}; wrap a TTModel (or give it those methods)"
            )
        klass = type(module)
        self.get_loss_fn = types.MethodType(klass.get_loss, self)  # type: ignore[attr-defined]
        self.get_loss_eval_fn = types.MethodType(klass.get_loss_eval, self)  # type: ignore[attr-defined]
        self.get_predictions_fn = types.MethodType(klass.get_predictions, self)  # type: ignore[attr-defined]
        for name, function in _model_methods(module, default_model_methods).items():
            setattr(self, name, types.MethodType(function, self))
        transfer = getattr(module, "transfer_model_attributes", None)
        if isinstance(transfer, list | tuple):
            for name in transfer:
                setattr(self, name, getattr(module, name))

    def get_loss(self, batch_data: Any, criterion: Any, device: Any) -> Any:
        """The wrapped model's ``get_loss``, run with ``self`` as the wrapper."""
        return self.get_loss_fn(batch_data, criterion, device)

    def get_loss_eval(self, batch_data: Any, criterion: Any, device: Any) -> Any:
        """The wrapped model's ``get_loss_eval``, run with ``self`` as the wrapper."""
        return self.get_loss_eval_fn(batch_data, criterion, device)

    def get_predictions(self, batch_data: Any, device: Any) -> Any:
        """The wrapped model's ``get_predictions``, run with ``self`` as the wrapper."""
        return self.get_predictions_fn(batch_data, device)


class TTDataParallel(nn.DataParallel, TTParallelBase):  # type: ignore[type-arg]
    """``nn.DataParallel`` that still answers the ``TTModel`` methods (see the module doc)."""

    def __init__(
        self, module: nn.Module, default_model_methods: Sequence[str] = _CORE, **kwargs: Any
    ) -> None:
        nn.DataParallel.__init__(self, module, **kwargs)
        TTParallelBase.__init__(self, module, default_model_methods)


class TTDistributedDataParallel(TTParallelBase, DistributedDataParallel):
    """``DistributedDataParallel`` that still answers the ``TTModel`` methods."""

    def __init__(
        self, module: nn.Module, default_model_methods: Sequence[str] = _CORE, **kwargs: Any
    ) -> None:
        DistributedDataParallel.__init__(self, module, **kwargs)
        TTParallelBase.__init__(self, module, default_model_methods)
