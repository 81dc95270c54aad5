"""HessianEigenSubscriber: on a least-squares model the Hessian is known in closed form
(2/N XᵀX for the mean squared error of a bias-free linear layer), so its power iteration is
checked against ``eigvalsh``; it runs at ikkuna's steps and leaves training untouched."""

from __future__ import annotations

from typing import Any

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from unitrain.compat.ikkuna.export import Exporter
from unitrain.compat.ikkuna.export.messages import MessageBus
from unitrain.compat.ikkuna.export.subscriber import CallbackSubscriber, HessianEigenSubscriber
from unitrain.compat.ikkuna.export.subscriber.hessian_eig import top_hessian_eigenvalues
from unitrain.errors import ConfigError


def _held_out() -> tuple[torch.Tensor, DataLoader[Any]]:
    generator = torch.Generator().manual_seed(7)
    scales = torch.tensor([3.0, 1.5, 0.5, 0.1])  # well-separated eigenvalues
    inputs = torch.randn(24, 4, generator=generator) * scales
    targets = torch.randn(24, 1, generator=generator)
    loader = DataLoader(TensorDataset(inputs, targets), batch_size=5)  # uneven last batch
    return inputs, loader


def _known_eigenvalues(inputs: torch.Tensor) -> list[float]:
    hessian = 2.0 / len(inputs) * inputs.T.double() @ inputs.double()
    return sorted(torch.linalg.eigvalsh(hessian).tolist(), reverse=True)


def test_power_iteration_finds_the_known_top_eigenvalues_of_a_quadratic_loss() -> None:
    inputs, loader = _held_out()
    layer = nn.Linear(4, 1, bias=False)
    found = top_hessian_eigenvalues(
        list(layer.parameters()), layer, nn.MSELoss(), loader, num_eig=2, power_steps=60
    )
    expected = _known_eigenvalues(inputs)
    assert found == pytest.approx(expected[:2], rel=1e-4)


def _train(steps: int, subscriber_args: dict[str, Any] | None) -> tuple[nn.Module, Any, list[Any]]:
    torch.manual_seed(0)
    bus = MessageBus("hessian")
    exporter = Exporter(depth=-1, message_bus=bus)
    model = nn.Sequential(nn.Linear(4, 1, bias=False))
    exporter.set_model(model)
    exporter.add_modules(model)
    loss_fn = nn.MSELoss()
    exporter.set_loss(loss_fn)
    published: list[Any] = []
    subscriber = None
    if subscriber_args is not None:
        _, loader = _held_out()
        subscriber = HessianEigenSubscriber(
            model.forward, loss_fn, loader, 5, message_bus=bus, backend=None, **subscriber_args
        )
        CallbackSubscriber(
            ["hessian_eigenvalues"],
            lambda values, step, *rest: published.append((step, values.tolist())),
            message_bus=bus,
        )
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05)
    for _ in range(steps):
        x, y = torch.randn(8, 4), torch.randn(8, 1)
        optimizer.zero_grad()
        loss_fn(model(x), y).backward()
        optimizer.step()
    return model, subscriber, published


def test_it_runs_every_frequency_steps_from_the_first_and_leaves_training_bit_for_bit() -> None:
    model, subscriber, published = _train(5, {"frequency": 2, "num_eig": 2, "power_steps": 60})
    plain, _, _ = _train(5, None)
    assert torch.equal(model[0].weight, plain[0].weight)  # no gradient or RNG touched
    assert model.training  # put back in train mode
    assert [step for step, _ in subscriber.eigenvalues] == [0, 2, 4]
    assert published == [(s, pytest.approx(v)) for s, v in subscriber.eigenvalues]
    # The Hessian of a quadratic loss does not depend on the weights.
    inputs, _ = _held_out()
    for _, values in subscriber.eigenvalues:
        assert values == pytest.approx(_known_eigenvalues(inputs)[:2], rel=1e-4)
    counter = subscriber.subscriptions["batch_finished"].counter
    assert counter["batch_finished"] == 5


@pytest.mark.parametrize("bad", [{"frequency": 0}, {"num_eig": 0}, {"power_steps": 1.5}])
def test_bad_settings_are_refused_when_made(bad: dict[str, Any]) -> None:
    name = next(iter(bad))
    with pytest.raises(ConfigError, match=name):
        HessianEigenSubscriber(nn.Identity(), nn.MSELoss(), [], message_bus=MessageBus("b"), **bad)
