"""matplotlib, loaded only by the callbacks that plot (it is an optional extra)."""

from __future__ import annotations

import importlib
from typing import Any

from unitrain.errors import ConfigError

__all__ = ["require_pyplot"]


def require_pyplot(who: str) -> Any:
    """``matplotlib.pyplot`` with the file-only Agg backend, or a ConfigError saying so."""
    try:
        matplotlib = importlib.import_module("matplotlib")
    except ImportError:
        raise ConfigError(
            f"{who} draws plots with matplotlib, which is not installed; "
            "pip install matplotlib (or leave the callback out)"
        ) from None
    matplotlib.use("Agg")
    return importlib.import_module("matplotlib.pyplot")
