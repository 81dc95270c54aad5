"""Small datasets that ship inside the package (no downloads)."""

from __future__ import annotations

import gzip
from importlib import resources

import torch

__all__ = ["load_digits"]

_DIGITS_SAMPLES = 1797
_DIGITS_PIXELS = 64


def load_digits() -> tuple[torch.Tensor, torch.Tensor]:
    """The 8×8 handwritten digits (UCI ML, E. Alpaydin; as shipped by scikit-learn).

    Returns ``(images, labels)``: ``images`` is float32 ``[1797, 64]`` scaled to [0, 1]
    (pixel values 0–16 divided by 16), ``labels`` is int64 ``[1797]`` in 0–9.
    """
    raw = gzip.decompress(resources.files("unitrain").joinpath("data/digits.u8.gz").read_bytes())
    expected = _DIGITS_SAMPLES * (_DIGITS_PIXELS + 1)
    if len(raw) != expected:
        raise OSError(f"unitrain/data/digits.u8.gz holds {len(raw)} bytes, expected {expected}")
    data = torch.frombuffer(bytearray(raw), dtype=torch.uint8)
    split = _DIGITS_SAMPLES * _DIGITS_PIXELS
    images = data[:split].reshape(_DIGITS_SAMPLES, _DIGITS_PIXELS).float() / 16.0
    labels = data[split:].long()
    return images, labels
