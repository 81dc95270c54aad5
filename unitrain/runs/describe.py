"""What a fit runs with, for ``run.json``: plugins, monitored metrics, hyperparameters, model.

:func:`describe_fit` is called by the run store when a fit starts (and again when it resumes:
a resumed fit may run with other plugins). Every value is plain JSON, so ``unitrain report``
can show it without importing the user's code. Each field is additive: run folders written
before it existed simply lack it, and the report says "not recorded".
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

import torch

if TYPE_CHECKING:
    from unitrain.core.state import State
    from unitrain.hooks.manager import PluginRecord

__all__ = ["MAX_MODULES", "describe_fit"]

#: Modules named in ``run.json`` at most (a huge model's names would swamp the file).
MAX_MODULES = 2000


def describe_fit(state: State, plugins: Iterable[PluginRecord] | None) -> dict[str, Any]:
    """``plugins``, ``monitors``, ``hyperparameters`` and ``model`` of the fit about to run."""
    records = list(plugins or ())
    facts: dict[str, Any] = {"hyperparameters": hyperparameters(state)}
    if plugins is not None:
        facts["plugins"] = [_plugin(record) for record in records]
        facts["monitors"] = monitors(records)
    model = _unwrap(state.model)
    if model is not None:
        facts["model"] = model_facts(model)
    return facts


def monitors(records: Iterable[PluginRecord]) -> list[dict[str, str]]:
    """Every plugin that watches one evaluation metric (``monitor``, ``split``, ``mode``
    attributes: the run store, checkpoints' best-K, early stopping), with its direction."""
    found = []
    for record in records:
        plugin = record.plugin
        monitor, mode = getattr(plugin, "monitor", None), getattr(plugin, "mode", None)
        split = getattr(plugin, "split", "val")
        if isinstance(monitor, str) and mode in ("min", "max") and isinstance(split, str):
            found.append({"plugin": record.name, "metric": f"{split}/{monitor}", "mode": mode})
    return found


def hyperparameters(state: State) -> dict[str, Any]:
    """The loop's settings and every optimizer's param-group values (not the tensors)."""
    return {
        "max_epochs": state.max_epochs,
        "max_steps": state.max_steps,
        "accumulation": state.accumulation,
        "world_size": state.world_size,
        "device": str(state.device),
        "optimizers": [
            {
                "class": type(optimizer).__name__,
                "groups": [
                    {key: _plain(value) for key, value in group.items() if key != "params"}
                    for group in optimizer.param_groups
                ],
            }
            for optimizer in state.optimizers
        ],
    }


def model_facts(model: torch.nn.Module) -> dict[str, Any]:
    """Class, parameter counts and ``{module name: class name}`` (the report's heatmap rows)."""
    named = [(name, type(m).__name__) for name, m in model.named_modules() if name]
    return {
        "class": type(model).__qualname__,
        "parameters": sum(p.numel() for p in model.parameters()),
        "trainable": sum(p.numel() for p in model.parameters() if p.requires_grad),
        "modules": dict(named[:MAX_MODULES]),
        "modules_total": len(named),
    }


def _plugin(record: PluginRecord) -> dict[str, Any]:
    kind = type(record.plugin)
    return {
        "name": record.name,
        "class": f"{kind.__module__}.{kind.__qualname__}",
        "order": record.order,
        "ranks": record.ranks if isinstance(record.ranks, int | str) else str(record.ranks),
        "distribution": record.distribution,
    }


def _unwrap(model: torch.nn.Module | None) -> torch.nn.Module | None:
    """The user's module under DDP / FSDP's ``module`` and ``torch.compile``'s ``_orig_mod``,
    whose names are the ones the bus reports."""
    for _ in range(3):
        inner = getattr(model, "_orig_mod", None) or (
            getattr(model, "module", None)
            if isinstance(model, torch.nn.parallel.DistributedDataParallel)
            else None
        )
        if not isinstance(inner, torch.nn.Module):
            break
        model = inner
    return model


def _plain(value: Any) -> Any:
    """A JSON value: numbers, strings, booleans, None, lists of them; else its ``repr``."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, torch.Tensor) and value.numel() == 1:
        return value.item()
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    if isinstance(value, Mapping):
        return {str(key): _plain(item) for key, item in value.items()}
    return repr(value)
