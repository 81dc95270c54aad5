"""``ikkuna.export``: ``from unitrain.compat.ikkuna.export import Exporter``."""

from unitrain.compat.ikkuna.exporter import Exporter

__all__ = ["Exporter"]
