"""examples/gan: both spellings (per-optimizer losses, manual) train the same GAN."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import torch

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "gan" / "train.py"


def load_example() -> Any:
    spec = importlib.util.spec_from_file_location("gan_example", EXAMPLE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_gan_learns_the_mean_in_both_spellings() -> None:
    example = load_example()
    with torch.no_grad():  # before training the generator is nowhere near the target
        untrained = example.make_task(manual=False).model.gen(torch.randn(2000, 1)).mean()
    assert abs(float(untrained) - example.MEAN) > 2
    per_optimizer = example.main([])
    manual = example.main(["--manual"])
    assert abs(per_optimizer["mean"] - example.MEAN) < 0.2
    assert manual == per_optimizer  # the same steps, bit for bit
