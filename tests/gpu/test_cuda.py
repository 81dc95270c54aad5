"""The CUDA path: nccl DDP, FSDP2, fp16 with a grad scaler and the bus, on GPUs.

Run with ``python -m pytest -q tests/gpu`` on a machine with CUDA (two GPUs for the
multi-process tests); without CUDA every test here is skipped.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch
from torch.utils.data import DataLoader

from tests.distributed import _scenarios as s
from tests.gpu import _ranks
from unitrain.distributed import launch

CUDA = torch.cuda.is_available()
GPUS = torch.cuda.device_count() if CUDA else 0
needs_cuda = pytest.mark.skipif(not CUDA, reason="needs a CUDA device")
needs_two = pytest.mark.skipif(
    GPUS < 2, reason="needs two CUDA devices (nccl refuses two ranks on one)"
)


@needs_two
def test_nccl_ddp_from_a_device_string_equals_one_gpu() -> None:
    two = s.make_trainer(devices="cuda:0,1")
    two.fit(DataLoader(s.dataset(32), batch_size=8))
    one = s.make_trainer(device="cuda:0")
    one.fit(DataLoader(s.dataset(32), batch_size=16))
    torch.testing.assert_close(s.weights(two).cpu(), s.weights(one).cpu(), atol=1e-5, rtol=0)


@needs_two
def test_nccl_fsdp_resume_equals_the_uninterrupted_run(tmp_path: Path) -> None:
    ranks: list[dict[str, Any]] = launch(
        _ranks.fsdp_resume_cpu_results, "cuda:0,1", str(tmp_path / "checkpoints"), timeout=300
    )
    for rank in ranks:
        assert rank["step"] == 4
        assert torch.equal(rank["resumed"], rank["straight"])


@needs_two
def test_fp16_scaler_and_bus_under_nccl_ddp() -> None:
    ranks: list[dict[str, Any]] = launch(_ranks.fp16_and_bus, "cuda:0,1", timeout=300)
    assert [r["device"] for r in ranks] == ["cuda:0", "cuda:1"]
    assert torch.equal(ranks[0]["weights"], ranks[1]["weights"])  # the ranks stayed in step
    for rank in ranks:
        assert rank["scale"] is not None and rank["scale"] > 0
        assert rank["bus_steps"] == rank["steps"] == 4


@needs_cuda
def test_fp16_scaler_and_bus_on_one_gpu() -> None:
    result = launch(_ranks.fp16_and_bus, "cuda:0")[0]  # one device: runs here, no group
    assert result["device"] == "cuda:0"
    assert result["scale"] is not None and result["scale"] > 0
    assert result["bus_steps"] == result["steps"] == 4


@needs_cuda
def test_predict_gather_and_watchdog_settings_on_one_gpu() -> None:
    trainer = s.make_trainer(device="cuda:0", hang_timeout=30)
    loader = DataLoader(s.dataset(11), batch_size=4)
    plain = trainer.predict(loader)
    assert all(
        torch.equal(a, b) for a, b in zip(plain, trainer.predict(loader, gather=True), strict=True)
    )
