"""``Task(compile=...)`` under DDP on two spawned CPU ranks.

The task travels to the spawned ranks pickled: the compiled forward goes as its options and
each rank compiles its own. DDP wraps the user's module, whose ``forward`` is the compiled
one, so the gradient all-reduce hooks (on the parameters) stay outside the compiled graph.
``backend="eager"`` keeps it to TorchDynamo's tracing (inductor's code generation is tested
in one process, tests/tasks/test_compile.py): what is checked here is the wiring.
"""

from __future__ import annotations

from functools import partial
from typing import Any

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

import unitrain as ut

SAMPLES = 32


def data(seed: int = 1) -> TensorDataset:
    generator = torch.Generator().manual_seed(seed)
    inputs = torch.randn(SAMPLES, 6, generator=generator)
    return TensorDataset(inputs, (inputs[:, 0] > 0).long())


def make_trainer(**settings: Any) -> ut.Trainer:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(6, 8), nn.ReLU(), nn.Linear(8, 2))
    task = ut.Task(
        model,
        loss=nn.CrossEntropyLoss(),
        optimizer=partial(torch.optim.SGD, lr=0.3),
        compile={"backend": "eager"},
    )
    return ut.Trainer(task, max_epochs=2, eval_every_epochs=None, **settings)


@pytest.mark.slow
def test_a_compiled_task_on_two_spawned_ranks_trains_like_one_process() -> None:
    two = make_trainer(devices="cpu:2")
    two.fit(DataLoader(data(), batch_size=8))  # 8 per rank: the same global batch of 16
    one = make_trainer(device="cpu")
    one.fit(DataLoader(data(), batch_size=16))
    assert two.state.global_step == one.state.global_step == 4
    assert two.state.model is not None and one.state.model is not None
    assert list(two.state.model.state_dict()) == ["0.weight", "0.bias", "2.weight", "2.bias"]
    for a, b in zip(two.state.model.parameters(), one.state.model.parameters(), strict=True):
        # a mean over two ranks' means, against one mean of 16: equal up to rounding
        torch.testing.assert_close(a, b, atol=1e-6, rtol=0)
    assert not torch.equal(two.state.model[0].weight, make_trainer().state.model[0].weight)  # type: ignore[index]
