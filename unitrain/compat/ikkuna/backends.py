"""Plotting backends of the ikkuna subscribers (``backend='tb'`` or a writer object)."""

from __future__ import annotations

from typing import Any

from unitrain.errors import ConfigError

__all__ = ["Backend", "make_backend"]


class Backend:
    """A plotting backend: ``add_data(module_name, datum, step)``, ``add_histogram``."""

    def __init__(self, writer: Any) -> None:
        self.writer = writer

    def add_data(self, module_name: str, datum: Any, step: int) -> None:
        self.writer.add_scalar(module_name, float(datum), step)

    def add_histogram(self, module_name: str, datum: Any, step: int) -> None:
        self.writer.add_histogram(module_name, datum, step)


def make_backend(backend: Any) -> Backend | None:
    if backend is None:
        return None
    if backend == "tb":
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            raise ConfigError(
                "backend='tb' needs the tensorboard package (pip install tensorboard); use "
                "backend=None and unitrain.bus.BusLog to log values without it"
            ) from None
        return Backend(SummaryWriter())
    if hasattr(backend, "add_scalar"):
        return Backend(backend)
    raise ConfigError(f"backend must be 'tb', None or a writer with add_scalar, got {backend!r}")
