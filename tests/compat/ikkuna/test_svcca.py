"""SVCCA: a representation compared with itself, or with an invertible linear map of itself,
has similarity 1; the batched subscriber equals the one-pass one; an unchanged network's
layers are all at 1."""

from __future__ import annotations

from typing import Any

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn
from torch.utils.data import TensorDataset

from unitrain.compat.ikkuna.export import Exporter
from unitrain.compat.ikkuna.export.messages import MessageBus
from unitrain.compat.ikkuna.export.subscriber import BatchedSVCCASubscriber, SVCCASubscriber
from unitrain.compat.ikkuna.export.subscriber.svcca import svcca_similarity


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 2**16), samples=st.integers(12, 40), features=st.integers(1, 6))
def test_a_representation_is_similar_to_itself_and_to_a_linear_map_of_itself(
    seed: int, samples: int, features: int
) -> None:
    generator = torch.Generator().manual_seed(seed)
    a = torch.randn(samples, features, generator=generator)
    rotation, _ = torch.linalg.qr(torch.randn(features, features, generator=generator))
    mixing = torch.eye(features) * 2 + 0.3 * torch.randn(features, features, generator=generator)
    assert svcca_similarity(a, a) == pytest.approx(1.0, abs=1e-9)
    # A rotation keeps the singular values, so the 98% cut keeps the same subspace.
    assert svcca_similarity(a, a @ rotation) == pytest.approx(1.0, abs=1e-6)
    # Any invertible map keeps the span, when nothing is cut.
    assert svcca_similarity(a, a @ mixing, keep=1.0) == pytest.approx(1.0, abs=1e-6)


def test_independent_noise_is_far_from_similar() -> None:
    generator = torch.Generator().manual_seed(0)
    a, b = torch.randn(400, 3, generator=generator), torch.randn(400, 3, generator=generator)
    assert svcca_similarity(a, b) < 0.3


def _train(steps: int, lr: float, subscriber_cls: type, **kwargs: Any) -> Any:
    torch.manual_seed(0)
    bus = MessageBus("svcca")
    exporter = Exporter(depth=-1, message_bus=bus)
    model = nn.Sequential(nn.Linear(4, 6), nn.Tanh(), nn.Linear(6, 3))
    exporter.set_model(model)
    exporter.add_modules(model)
    data = TensorDataset(torch.randn(50, 4), torch.zeros(50))
    subscriber = subscriber_cls(data, 30, model.forward, message_bus=bus, backend=None, **kwargs)
    optimizer = torch.optim.SGD(model.parameters(), lr=lr)
    for _ in range(steps):
        optimizer.zero_grad()
        model(torch.randn(8, 4)).square().mean().backward()
        optimizer.step()
    return subscriber


def test_batched_svcca_equals_the_one_pass_subscriber() -> None:
    batched = _train(4, 0.5, BatchedSVCCASubscriber, batch_size=7)
    whole = _train(4, 0.5, SVCCASubscriber)
    assert batched._batch_size == 7 and whole._batch_size == 30
    assert sorted(batched.similarities) == ["/linear0", "/linear1", "/tanh0"]
    for name, series in whole.similarities.items():
        assert [s for s, _ in batched.similarities[name]] == [1, 2, 3]
        assert [v for _, v in batched.similarities[name]] == pytest.approx(
            [v for _, v in series], abs=1e-6
        )
    assert any(v < 0.999 for series in whole.similarities.values() for _, v in series)


def test_a_network_that_does_not_change_is_fully_self_similar() -> None:
    frozen = _train(3, 0.0, BatchedSVCCASubscriber)  # the default batch of 256 > n
    values = [v for series in frozen.similarities.values() for _, v in series]
    assert len(values) == 6 and values == pytest.approx([1.0] * 6, abs=1e-9)
