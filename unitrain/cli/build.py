"""From a validated run config to a trainer and its data (shared by fit, eval, predict)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch

from unitrain.config import RunConfig, load_target
from unitrain.config.builtins import available_plugins, enabled_names
from unitrain.errors import ConfigError
from unitrain.hooks.entrypoints import (
    LoadedPlugin,
    PluginEntry,
    Selection,
    load_plugins,
    register_plugins,
)
from unitrain.trainer import Trainer

if TYPE_CHECKING:
    from rich.console import Console

__all__ = ["RunData", "build_trainer", "load_data", "load_enabled_plugins"]


@dataclass(frozen=True, slots=True)
class RunData:
    """What the config's data function returned, sorted out."""

    train: Any
    eval: Any = None
    predict: Any = None


def load_enabled_plugins(
    config: RunConfig,
    cli: Sequence[str],
    *,
    lenient: bool,
    available: Mapping[str, Sequence[PluginEntry]] | None = None,
) -> tuple[list[LoadedPlugin], bool]:
    """Load the enabled entry-point plugins (before any run folder exists); returns them
    and whether loading is strict. ``available``: the plugins by name, when the caller has
    read them already (:func:`~unitrain.config.builtins.available_plugins`)."""
    strict = config.strict_plugins and not lenient
    if available is None:
        available = available_plugins()
    # `all` expanded here, to the third-party plugins only (see enabled_names)
    names = enabled_names(Selection.parse(config=config.plugins, cli=cli), available)
    loaded = load_plugins(
        Selection(tuple(names)), strict=strict, options=config.plugin_options, installed=available
    )
    return loaded, strict


def load_data(config: RunConfig) -> RunData:
    """Call the config's data function and sort out what it returned."""
    factory = load_target(config.data, "data")
    if not callable(factory):
        raise ConfigError(f"data = {config.data!r} is a {type(factory).__name__}, not a function")
    made = factory(**config.data_options)
    if isinstance(made, RunData):
        return made
    if isinstance(made, Mapping):
        unknown = sorted(set(made) - {"train", "eval", "predict"})
        if unknown or "train" not in made:
            raise ConfigError(
                f"data function {config.data!r} returned a mapping with keys {sorted(made)}; "
                "expected 'train' and optionally 'eval' and 'predict'"
            )
        return RunData(made["train"], made.get("eval"), made.get("predict"))
    if isinstance(made, tuple):
        if len(made) != 2:
            raise ConfigError(
                f"data function {config.data!r} returned a tuple of {len(made)}; "
                "expected (train, eval)"
            )
        return RunData(made[0], made[1])
    return RunData(made)


def build_trainer(
    config: RunConfig,
    plugins: Sequence[LoadedPlugin],
    *,
    strict: bool,
    builtins: Sequence[object] = (),
) -> Trainer:
    """Seed torch, make the task, the trainer and register the plugins (built-in first)."""
    if config.run.seed is not None:
        torch.manual_seed(config.run.seed)
    factory = load_target(config.task, "task")
    if not callable(factory):
        raise ConfigError(f"task = {config.task!r} is a {type(factory).__name__}, not a function")
    task = factory(**config.task_options)
    trainer = Trainer(task, plugins=builtins, **config.trainer.model_dump())
    register_plugins(trainer.plugins, plugins, strict=strict)
    return trainer


def progress_plugins(config: RunConfig, console: Console, plain: bool) -> list[object]:
    """The progress display, when the config wants one."""
    if not config.run.progress:
        return []
    from unitrain.plugins.progress import ProgressBar

    return [ProgressBar(console=console, plain=True if plain else None)]
