"""``ikkuna.visualization`` at its unitrain path (see :mod:`.backend`)."""

from typing import Any

from unitrain.compat.ikkuna.visualization.backend import (
    Backend,
    MPLBackend,
    NullBackend,
    TBBackend,
    configure_prefix,
    set_run_info,
)

__all__ = [
    "Backend",
    "MPLBackend",
    "NullBackend",
    "TBBackend",
    "backend_choices",
    "configure_prefix",
    "get_backend",
    "set_run_info",
]

backend_choices = ("tb", "mpl")


def get_backend(name: str | None, plot_config: dict[str, Any], **kwargs: Any) -> Backend:
    """The backend ``name`` (``'tb'``, ``'mpl'``, or ``None`` for none) with ``plot_config``
    (``title``, ``xlabel``, ``ylabel``, ``ylims``) and any backend options."""
    if name is None:
        return NullBackend(**plot_config, **kwargs)
    if name == "tb":
        return TBBackend(**plot_config, **kwargs)
    if name == "mpl":
        return MPLBackend(**plot_config, **kwargs)
    raise ValueError(f"backend must be one of {backend_choices} or None, got {name!r}")
