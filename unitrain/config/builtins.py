"""unitrain's own plugins by name, beside the installed entry-point plugins.

The built-ins are declared twice on purpose: in ``pyproject.toml``'s
``[project.entry-points.unitrain]`` (so an installed unitrain lists them in the same group as
third-party plugins, for any tool that reads entry points) and in :data:`BUILTIN_PLUGINS`
below (so they resolve by name even where unitrain's own metadata is missing or stale: a
source checkout on ``PYTHONPATH``, an editable install made before a built-in was added).
``tests/config/test_builtins.py`` checks that the two lists are the same. Adding a built-in
is one line in each.
"""

from __future__ import annotations

import difflib
import inspect
from collections.abc import Mapping, Sequence
from importlib.metadata import EntryPoint, PackageNotFoundError, version
from typing import TYPE_CHECKING, Any, Final, Literal

from unitrain.errors import ConfigError
from unitrain.hooks.entrypoints import GROUP, PluginEntry, Selection, discover

if TYPE_CHECKING:
    import torch

    from unitrain.plugins.lr_scheduler import LRScheduler

__all__ = [
    "BUILTIN_PLUGINS",
    "available_plugins",
    "builtin_entries",
    "enabled_names",
    "is_builtin",
    "lr_scheduler",
    "options_of",
]

# name → "module:attribute" (a class, or a factory taking the plugin's options)
BUILTIN_PLUGINS: Final[Mapping[str, str]] = {
    "checkpoint": "unitrain.plugins.checkpoint:Checkpoint",
    "gradient_clipping": "unitrain.plugins.clipping:GradientClipping",
    "lr_scheduler": "unitrain.config.builtins:lr_scheduler",
    "metrics_log": "unitrain.plugins.metrics_log:MetricsLog",
    "mixed_precision": "unitrain.plugins.amp:MixedPrecision",
    "mlflow": "unitrain.plugins.mlflow_log:MlflowLog",
    "nan_guard": "unitrain.plugins.nan_guard:NanGuard",
    "progress": "unitrain.plugins.progress:ProgressBar",
    "tensorboard": "unitrain.plugins.tensorboard_log:TensorBoardLog",
}

DISTRIBUTION: Final = "unitrain"


def _own_version() -> str | None:
    try:
        return version(DISTRIBUTION)
    except PackageNotFoundError:  # a source tree on PYTHONPATH, never installed
        return None


def builtin_entries() -> dict[str, PluginEntry]:
    """One :class:`PluginEntry` per built-in, made from the table (no metadata read)."""
    own = _own_version()
    return {
        name: PluginEntry(
            name=name,
            value=value,
            distribution=DISTRIBUTION,
            version=own,
            entry_point=EntryPoint(name=name, value=value, group=GROUP),
        )
        for name, value in BUILTIN_PLUGINS.items()
    }


def available_plugins() -> dict[str, list[PluginEntry]]:
    """Built-ins and installed entry points by name, nothing imported.

    unitrain's own metadata entries (:func:`discover` leaves them out) are the table's; a
    third-party plugin under a built-in's name is kept beside it, so loading that name
    reports the clash instead of picking one silently.
    """
    found: dict[str, list[PluginEntry]] = {
        name: [entry] for name, entry in builtin_entries().items()
    }
    for name, entries in discover().items():
        for entry in entries:
            builtin = BUILTIN_PLUGINS.get(name)
            if builtin is not None and entry.value == builtin:
                continue
            found.setdefault(name, []).append(entry)
    return dict(sorted(found.items()))


def enabled_names(
    selection: Selection, available: Mapping[str, Sequence[PluginEntry]]
) -> list[str]:
    """The names a selection enables: explicit ones in request order, then (with ``all``)
    every installed third-party plugin. Built-ins are enabled by name only: ``all`` must not
    switch on, say, a metrics log that needs a path."""
    third_party = [n for n, entries in available.items() if not all(map(is_builtin, entries))]
    return selection.names(third_party)


def is_builtin(entry: PluginEntry) -> bool:
    """True for one of unitrain's own plugins."""
    return BUILTIN_PLUGINS.get(entry.name) == entry.value


def options_of(entry: PluginEntry) -> list[str]:
    """``["max_norm=None", "path (required)"]``: what ``[plugin_options.NAME]`` may set.

    Imports the plugin's module (not instantiating it); an import failure is returned as
    the one item, so a listing goes on.
    """
    try:
        target = entry.entry_point.load()
    except Exception as error:
        return [f"(failed to load: {type(error).__name__}: {error})"]
    if not (inspect.isclass(target) or inspect.isfunction(target)):
        return []
    try:
        params = inspect.signature(target).parameters.values()
    except (TypeError, ValueError):
        return ["(unknown)"]
    shown: list[str] = []
    for param in params:
        if param.kind is param.VAR_KEYWORD:
            shown.append(f"**{param.name}")
        elif param.kind is not param.VAR_POSITIONAL:
            default = param.default
            shown.append(
                f"{param.name} (required)"
                if default is param.empty
                else f"{param.name}={default!r}"
            )
    return shown


# ---------------------------------------------------------------- factories for the config


def lr_scheduler(
    scheduler: str,
    *,
    options: Mapping[str, Any] | None = None,
    interval: Literal["epoch", "step"] = "epoch",
    frequency: int = 1,
    monitor: str | None = None,
    split: str = "val",
) -> LRScheduler:
    """:class:`~unitrain.plugins.LRScheduler` from names a config file can hold.

    ``scheduler`` is a class of ``torch.optim.lr_scheduler`` (``"CosineAnnealingLR"``) or
    ``"module:function"`` taking the optimizer; ``options`` are its keyword arguments::

        plugins = ["lr_scheduler"]
        [plugin_options.lr_scheduler]
        scheduler = "CosineAnnealingLR"
        options = { T_max = 30 }
    """
    from unitrain.plugins.lr_scheduler import LRScheduler

    made = _scheduler_class(scheduler)
    kwargs = dict(options or {})
    _check_kwargs(made, kwargs, f"lr_scheduler {scheduler}")

    def factory(optimizer: torch.optim.Optimizer) -> Any:
        return made(optimizer, **kwargs)

    return LRScheduler(
        factory, interval=interval, frequency=frequency, monitor=monitor, split=split
    )


def _scheduler_class(scheduler: str) -> Any:
    if ":" in scheduler:
        from unitrain.config.targets import load_target

        return load_target(scheduler, "lr_scheduler scheduler")
    import torch

    module = torch.optim.lr_scheduler
    bases = (module.LRScheduler, module.ReduceLROnPlateau)
    names = sorted(
        n
        for n, v in vars(module).items()
        if inspect.isclass(v) and issubclass(v, bases) and v is not module.LRScheduler
        and not n.startswith("_")
    )  # fmt: skip
    found = getattr(module, scheduler, None)
    if scheduler not in names or found is None:
        close = difflib.get_close_matches(scheduler, names, n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        raise ConfigError(
            f"lr_scheduler: scheduler = {scheduler!r} is not a class of "
            f"torch.optim.lr_scheduler; {hint}(one of: {', '.join(names)}; or "
            "'module:function' taking the optimizer)"
        )
    return found


def _check_kwargs(made: Any, kwargs: Mapping[str, Any], what: str) -> None:
    try:
        signature = inspect.signature(made)
    except (TypeError, ValueError):  # a builtin without a signature: let the call decide
        return
    params = signature.parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return
    names = [n for n in params if n != "optimizer"]
    unknown = [k for k in kwargs if k not in names]
    if unknown:
        hints = []
        for key in unknown:
            close = difflib.get_close_matches(key, names, n=1)
            hints.append(f"{key!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
        raise ConfigError(
            f"{what}: unknown option(s) {', '.join(hints)}; it takes: {', '.join(names)}"
        )
