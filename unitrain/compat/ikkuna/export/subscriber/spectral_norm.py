"""``ikkuna.export.subscriber.spectral_norm`` at its unitrain path."""

from unitrain.compat.ikkuna.subscriber import (
    SpectralNormSubscriber,
)

__all__ = ["SpectralNormSubscriber"]
