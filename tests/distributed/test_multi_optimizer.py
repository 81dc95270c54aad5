"""Two optimizers with their own losses, and manual optimization, on two CPU processes
(gloo) against one process with the same global batch."""

from __future__ import annotations

from typing import Any

import pytest
import torch

from tests.distributed import _gan_ranks as g
from unitrain.distributed import launch


@pytest.fixture(scope="module")
def ranks() -> list[dict[str, Any]]:
    return launch(g.two_optimizers, "cpu:2", start_method="fork", timeout=120)


@pytest.mark.parametrize("mode", ["per_optimizer", "manual"])
@pytest.mark.parametrize("accumulation", [1, 2])
def test_two_ranks_train_like_one_process(
    ranks: list[dict[str, Any]], mode: str, accumulation: int
) -> None:
    one = g.make_trainer(accumulation, mode, device="cpu")
    one.fit(g.data(8))  # each rank's 4 samples of a step, together
    key = f"{mode}-{accumulation}"
    assert torch.equal(ranks[0][key], ranks[1][key])  # the ranks never diverge
    # float32 reductions in another order: the documented DDP tolerance
    torch.testing.assert_close(ranks[0][key], g.weights(one), atol=1e-6, rtol=0)


def test_ddp_without_find_unused_parameters_is_refused(ranks: list[dict[str, Any]]) -> None:
    for rank in ranks:
        assert "find_unused_parameters=True" in rank["refused"]


def test_gradients_are_reduced_once_per_optimizer_per_window(
    ranks: list[dict[str, Any]],
) -> None:
    # 2 epochs x 4 micro-steps per rank; each window's last micro-step reduces once per
    # optimizer's backward (one bucket), the others run under no_sync
    for mode in ("per_optimizer", "manual"):
        assert [r[f"{mode}-1-allreduces"] for r in ranks] == [16, 16]  # 8 windows x 2
        assert [r[f"{mode}-2-allreduces"] for r in ranks] == [8, 8]  # 4 windows x 2
