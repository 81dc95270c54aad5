"""``TTDistributedDataParallel`` in two real processes (gloo): the wrapper is a
``DistributedDataParallel`` that still answers the ``TTModel`` methods, runs them with
itself as ``self`` (so ``self(batch)`` goes through DDP's forward), carries the attributes
named in ``transfer_model_attributes`` and nothing else of the model.

aitoolbox's own suite checks the same in spawned processes, which its import redirection
cannot reach; here each rank imports ``unitrain.compat.aitoolbox`` itself, as a user's
code does after changing the import prefix.
"""

from __future__ import annotations

import os
import traceback
from pathlib import Path
from typing import Any

import pytest
import torch
import torch.distributed as dist
from torch import nn

from unitrain.compat.aitoolbox import TTModel
from unitrain.compat.aitoolbox.torchtrain.parallel import (
    TTDistributedDataParallel,
    TTParallelBase,
)
from unitrain.distributed.env import free_port


class Counting(TTModel):
    """Counts its calls; ``get_loss`` / ``get_predictions`` call the model and a helper."""

    def __init__(self) -> None:
        super().__init__()
        self.linear = nn.Linear(4, 4)  # DDP needs a parameter to wrap
        self.label = "a model attribute"
        self.forwards = self.losses = self.predictions = 0
        self.hidden = "not transferred"
        self.transfer_model_attributes = ["label", "losses", "predictions"]

    def forward(self, batch: object) -> int:
        self.forwards += 1
        return self.forwards

    def helper(self) -> str:
        return "helper"

    def get_loss(self, batch_data: object, criterion: object, device: object) -> object:
        calls = self(batch_data)
        self.losses += 1
        extra = self.hidden if device == "reach" else self.helper()
        return calls, self.losses, extra, self.label

    def get_loss_eval(self, batch_data: object, criterion: object, device: object) -> object:
        return "eval"

    def get_predictions(self, batch_data: object, device: object) -> Any:
        calls = self(batch_data)
        self.predictions += 1
        return calls, self.predictions, self.helper(), self.label


def _rank(rank: int, port: int, folder: str) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.set_num_threads(1)
    try:
        dist.init_process_group("gloo", rank=rank, world_size=2)
        wrapped: Any = TTDistributedDataParallel(Counting())
        assert isinstance(wrapped, nn.parallel.DistributedDataParallel)
        assert isinstance(wrapped, TTParallelBase)
        assert wrapped.label == "a model attribute" and wrapped.helper() == "helper"
        assert wrapped.get_loss_eval(None, None, None) == "eval"
        for i in range(1, 6):  # DDP's forward reaches the model's
            assert wrapped(0) == i
        for i in range(1, 6):  # the model's get_loss, with the wrapper as self
            assert wrapped.get_loss(0, None, None) == (5 + i, i, "helper", "a model attribute")
        for i in range(1, 4):
            assert wrapped.get_predictions(0, None) == (10 + i, i, "helper", "a model attribute")
        # the counts live on the wrapper (copied there at wrapping), the calls on the model
        assert (wrapped.module.losses, wrapped.module.forwards) == (0, 13)
        with pytest.raises(AttributeError):  # not in transfer_model_attributes
            wrapped.get_loss(0, None, "reach")
        dist.barrier()
        Path(folder, f"rank{rank}.ok").touch()
    except BaseException:
        Path(folder, f"rank{rank}.err").write_text(traceback.format_exc())
        raise
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()


def test_two_ranks_wrap_the_model_and_answer_its_methods(tmp_path: Path) -> None:
    torch.multiprocessing.spawn(  # type: ignore[attr-defined, no-untyped-call]
        _rank, args=(free_port(), str(tmp_path)), nprocs=2
    )
    errors = {p.name: p.read_text() for p in tmp_path.glob("*.err")}
    assert not errors, errors
    assert sorted(p.name for p in tmp_path.glob("*.ok")) == ["rank0.ok", "rank1.ok"]
