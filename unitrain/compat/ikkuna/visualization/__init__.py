"""``ikkuna.visualization`` at its unitrain path (see :mod:`.backend`)."""

import importlib.util
import warnings
from typing import Any

from unitrain.compat.ikkuna.visualization.backend import (
    Backend,
    MPLBackend,
    NullBackend,
    TBBackend,
    configure_prefix,
    set_run_info,
)
from unitrain.errors import UnitrainWarning

__all__ = [
    "Backend",
    "MPLBackend",
    "NullBackend",
    "DEFAULT_BACKEND",
    "TBBackend",
    "backend_choices",
    "configure_prefix",
    "get_backend",
    "set_run_info",
]

backend_choices = ("tb", "mpl")


class _Default(str):
    """The subscribers' default backend: ``'tb'`` as in ikkuna, or no plot (with one warning)
    when the optional tensorboard package is missing; an explicit ``'tb'`` then fails."""

    def __repr__(self) -> str:
        return "'tb' (the default)"


DEFAULT_BACKEND = _Default("tb")
_warned: list[bool] = []


def _default() -> str | None:
    if importlib.util.find_spec("tensorboard") is not None:
        return "tb"
    if not _warned:
        _warned.append(True)
        warnings.warn(
            "ikkuna subscribers plot to TensorBoard by default, but the tensorboard package is "
            "not installed: nothing is plotted. pip install 'unitrain[tensorboard]', or pass "
            "backend=None (no plot) or backend='mpl' to silence this",
            UnitrainWarning,
            stacklevel=3,
        )
    return None


def get_backend(name: str | None, plot_config: dict[str, Any], **kwargs: Any) -> Backend:
    """The backend ``name`` (``'tb'``, ``'mpl'``, or ``None`` for none) with ``plot_config``
    (``title``, ``xlabel``, ``ylabel``, ``ylims``) and any backend options."""
    if name is DEFAULT_BACKEND:
        name = _default()
    if name is None:
        return NullBackend(**plot_config, **kwargs)
    if name == "tb":
        return TBBackend(**plot_config, **kwargs)
    if name == "mpl":
        return MPLBackend(**plot_config, **kwargs)
    raise ValueError(f"backend must be one of {backend_choices} or None, got {name!r}")
