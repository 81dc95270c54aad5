"""``benchmarks/gpu.py``: per precision, throughput, peak memory and host syncs per step.

On CPU (always): fp32 and bf16 run, fp16 is skipped with its reason, every model is
bit-identical, and the host-read counter sees reads that grow with the steps and ignores
those a fit makes once. On CUDA (skipped without a GPU): the whole smoke run, in its own
process (it switches on deterministic kernels for the process), with the sync counts
that must hold there.
"""

from __future__ import annotations

import importlib
import math
import os
import re
import subprocess
import sys
import warnings
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn

ROOT = Path(__file__).resolve().parents[2]
BENCHMARKS = ROOT / "benchmarks"
CPU = torch.device("cpu")


@pytest.fixture
def load(monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    threads = torch.get_num_threads()
    yield importlib.import_module
    torch.set_num_threads(threads)  # the benchmarks pin one thread


def _final_lines(output: str) -> dict[str, str]:
    return dict(re.findall(r"^(\w+)=(\S+)$", output, flags=re.MULTILINE))


def test_cpu_smoke_runs_fp32_and_bf16_bit_identically_and_skips_fp16(
    load: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    values = load("gpu").main(["--smoke", "--device", "cpu"])
    out = capsys.readouterr().out
    lines = _final_lines(out)
    assert lines["bit_identical"] == "true" and lines["device"] == "cpu"
    assert lines["skipped"] == "fp16" and "fp16: skipped: fp16 autocast needs CUDA" in out
    for model in ("mlp", "cnn"):
        for precision in ("fp32", "bf16"):
            key = f"{model}_{precision}"
            assert f"{model} {precision}: final weights of unitrain and the raw loop" in out
            assert (
                math.isfinite(values[f"{key}_throughput_ratio"])
                and values[f"{key}_noise_floor"] > 0
            )
            # the tiny fits read no tensor value on the host, in either loop
            assert values[f"{key}_host_reads_per_step_raw"] == 0.0
            assert values[f"{key}_host_reads_per_step_unitrain"] == 0.0
            # CUDA-only figures are reported as not measured, not invented
            assert math.isnan(values[f"{key}_peak_mib_unitrain"])
            assert math.isnan(values[f"{key}_syncs_per_step_unitrain"])
    assert "fp16" not in {key.split("_")[1] for key in values if key.startswith(("mlp_", "cnn_"))}
    count = int(re.search(r"(\d+) trained models bit-identical", out).group(1))  # type: ignore[union-attr]
    # per model and precision: 2 cases x (its model + its raw pair) of the one paired repeat,
    # 2 loops x 2 fit lengths of the read count, the final check
    assert count == 4 * (2 * 2 + 2 * 2 + 1)


def test_options_are_checked(load: Any, capsys: pytest.CaptureFixture[str]) -> None:
    gpu = load("gpu")
    with pytest.raises(SystemExit):
        gpu.main(["--precision", "fp8"])
    assert "--precision 'fp8': expected a list of fp32, bf16, fp16" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        gpu.main(["--models", "mlp,resnet"])
    assert "--models 'mlp,resnet': expected a list of mlp, cnn" in capsys.readouterr().err
    if not torch.cuda.is_available():
        with pytest.raises(SystemExit, match=r"torch\.cuda\.is_available"):
            gpu.main(["--device", "cuda"])


def test_precision_reasons(load: Any) -> None:
    precision = load("_precision")
    assert precision.unsupported("fp32", CPU) is None and precision.unsupported("bf16", CPU) is None
    assert "needs CUDA" in precision.unsupported("fp16", CPU)
    assert "unknown precision 'int8'" in precision.unsupported("int8", CPU)


def test_the_weight_check_catches_a_different_recipe(load: Any) -> None:
    """bf16 autocast in unitrain against a raw loop in fp32: the check must refuse it."""
    gpu, common = load("gpu"), load("_common")
    batches = gpu.make_batches_for("mlp", 2, 4, 0, CPU)
    bf16 = gpu.Setup("mlp", "bf16", CPU, 1, batches)
    fp32 = gpu.Setup("mlp", "fp32", CPU, 1, batches)
    checked = gpu.Checked()
    reference = gpu.raw_run(bf16)(batches, 2, None)
    checked.equal("same recipe", gpu.unitrain_run(bf16)(batches, 2, None), reference)
    assert checked.count == 1
    with pytest.raises(common.WeightMismatch, match="other recipe"):
        checked.equal("other recipe", gpu.raw_run(fp32)(batches, 2, None), reference)


def test_host_reads_are_counted_per_step(load: Any) -> None:
    precision = load("_precision")
    weights = torch.ones(3)

    def fit(steps: int, per_step_reads: int) -> None:
        float(weights.sum())  # once per fit: cancels
        for _ in range(steps):
            for _ in range(per_step_reads):
                weights.add(1).max().item()
            weights.mul(2)  # no read

    for reads in (0, 1, 3):

        def count(n: int, reads: int = reads) -> int:
            return int(precision.count_host_reads(lambda: fit(n, reads)))

        assert precision.per_step(count, 4) == reads
    assert precision.count_host_reads(lambda: fit(2, 1)) == 3


def test_sync_warnings_are_counted_each_time_and_the_mode_restored(
    load: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The CUDA counter's bookkeeping, with torch's sync-debug switch stood in for: every
    sync warning counts (also repeats from one line), other warnings do not, and the mode
    is set to "warn" only while the run runs."""
    precision = load("_precision")
    modes: list[object] = [0]
    monkeypatch.setattr(torch.cuda, "get_sync_debug_mode", lambda: modes[-1])
    monkeypatch.setattr(torch.cuda, "set_sync_debug_mode", modes.append)

    def run() -> None:
        assert modes[-1] == "warn"
        for _ in range(3):
            warnings.warn("called a synchronizing CUDA operation", UserWarning, stacklevel=1)
        warnings.warn("something else", UserWarning, stacklevel=1)

    assert precision.count_cuda_syncs(run) == 3
    assert modes == [0, "warn", 0]


def test_the_raw_recipe_matches_the_mixed_precision_plugin(load: Any) -> None:
    """bf16 on CPU: the hand-written autocast loop and MixedPrecision give the same bits."""
    precision, common = load("_precision"), load("_common")
    import unitrain as ut

    batches = common.make_batches(3, 4, 32, 10, seed=0)
    raw_model, ut_model = common.tiny_mlp(1), common.tiny_mlp(1)
    optimizer = torch.optim.SGD(raw_model.parameters(), lr=0.1)
    precision.raw_epoch(raw_model, batches, optimizer, nn.CrossEntropyLoss(), CPU, "bf16")()
    task = ut.Task(
        ut_model, loss=nn.CrossEntropyLoss(), optimizer=lambda p: torch.optim.SGD(p, lr=0.1)
    )
    trainer = ut.Trainer(task, plugins=precision.plugins_for("bf16"), max_epochs=1, device="cpu")
    trainer.fit(batches)
    assert common.same_weights(raw_model, ut_model)
    assert precision.plugins_for("fp32") == []


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_smoke_counts_syncs_and_memory() -> None:
    environment = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    finished = subprocess.run(
        [sys.executable, str(BENCHMARKS / "gpu.py"), "--smoke", "--device", "cuda"],
        capture_output=True,
        text=True,
        env=environment,
        timeout=900,
        check=False,
    )
    assert finished.returncode == 0, finished.stdout + finished.stderr
    lines = _final_lines(finished.stdout)
    assert lines["bit_identical"] == "true" and lines["device"] == "cuda"
    precisions = ["fp32", "fp16"] + (["bf16"] if torch.cuda.is_bf16_supported() else [])
    for model in ("mlp", "cnn"):
        for name in precisions:
            key = f"{model}_{name}"
            raw, ours = (float(lines[f"{key}_syncs_per_step_{who}"]) for who in ("raw", "unitrain"))
            assert ours == raw, f"{key}: unitrain adds host syncs per step ({ours} vs {raw})"
            assert float(lines[f"{key}_peak_mib_unitrain"]) > 0
        assert float(lines[f"{model}_fp32_syncs_per_step_raw"]) == 0
        # GradScaler.step reads whether the gradients overflowed: one sync a step, which
        # shows that the sync-debug count sees syncs at all
        assert float(lines[f"{model}_fp16_syncs_per_step_raw"]) >= 1
