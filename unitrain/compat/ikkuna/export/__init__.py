"""``ikkuna.export``: ``from unitrain.compat.ikkuna.export import Exporter``."""

from unitrain.compat.ikkuna.export.export import Exporter

__all__ = ["Exporter"]
