"""Every RNG captured and restored as weights-only data."""

from __future__ import annotations

import io
import random

import numpy as np
import torch

from unitrain.runs.rng import capture_rng, preserved_rng, restore_rng


def _draw() -> tuple[float, float, torch.Tensor, float]:
    return random.random(), float(np.random.rand()), torch.rand(3), random.gauss(0, 1)


def test_capture_restore_round_trip_through_weights_only_load() -> None:
    random.gauss(0, 1)  # leave a cached gaussian in the python state
    snapshot = capture_rng()
    buffer = io.BytesIO()
    torch.save(snapshot, buffer)
    buffer.seek(0)
    loaded = torch.load(buffer, weights_only=True)
    assert isinstance(loaded["numpy"]["keys"], list) and isinstance(loaded["python"]["state"], list)
    first = _draw()
    restore_rng(loaded)
    second = _draw()
    assert first[:2] == second[:2] and torch.equal(first[2], second[2]) and first[3] == second[3]


def test_preserved_rng_leaves_every_stream_where_it_was() -> None:
    snapshot = capture_rng()
    with preserved_rng():
        _draw()
    after = _draw()
    restore_rng(snapshot)
    expected = _draw()
    assert after[:2] == expected[:2] and torch.equal(after[2], expected[2])
