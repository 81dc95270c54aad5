import pytest
import torch
from torch import nn

import unitrain as ut
from tests.plugins._tiny import tiny_batches, tiny_task
from unitrain.plugins import GradientClipping


class GradProbe:
    """Reads gradients after clipping (a higher order runs later)."""

    order = 10

    def __init__(self) -> None:
        self.norms: list[float] = []
        self.max_abs: list[float] = []

    def on_before_optimizer_step(self, optimizer: torch.optim.Optimizer) -> None:
        grads = [p.grad for g in optimizer.param_groups for p in g["params"] if p.grad is not None]
        self.norms.append(float(torch.linalg.vector_norm(torch.stack([g.norm() for g in grads]))))
        self.max_abs.append(max(float(g.abs().max()) for g in grads))


def test_norm_clipping_bounds_the_total_norm():
    probe = GradProbe()
    plugins = [GradientClipping(max_norm=0.05), probe]
    ut.Trainer(tiny_task(lr=1.0), max_epochs=2, device="cpu", plugins=plugins).fit(tiny_batches())
    assert len(probe.norms) == 8
    assert max(probe.norms) <= 0.05 * (1 + 1e-5)


def test_value_clipping_bounds_every_element():
    probe = GradProbe()
    plugins = [GradientClipping(max_value=0.01), probe]
    ut.Trainer(tiny_task(lr=1.0), max_epochs=1, device="cpu", plugins=plugins).fit(tiny_batches())
    assert max(probe.max_abs) <= 0.01


def test_clipped_training_equals_a_hand_written_loop_bit_for_bit():
    task = tiny_task(seed=1)
    clip = GradientClipping(max_norm=0.1)
    ut.Trainer(task, max_epochs=2, device="cpu", plugins=[clip]).fit(tiny_batches())

    model = tiny_task(seed=1).model
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    for _ in range(2):
        for x, y in tiny_batches():
            loss = nn.functional.cross_entropy(model(x), y)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(list(model.parameters()), 0.1)
            optimizer.step()
            optimizer.zero_grad()
    for ours, theirs in zip(task.model.parameters(), model.parameters(), strict=True):
        assert torch.equal(ours, theirs)
    assert clip.last_norm is not None and clip.last_norm.dim() == 0


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({}, "give max_norm="),
        ({"max_norm": 0.0}, "max_norm=0.0"),
        ({"max_value": -1.0}, "max_value"),
    ],
)
def test_bad_settings_are_refused(kwargs, message):
    with pytest.raises(ut.ConfigError, match=message):
        GradientClipping(**kwargs)
