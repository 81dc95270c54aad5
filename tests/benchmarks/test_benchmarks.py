"""Each benchmark script runs at tiny sizes and ends with its ``name=value`` lines.

The figures are meaningless at these sizes; what is checked is that every case ran, that
every run's weights matched the raw loop's bit for bit, and that the machine-readable
lines are there. Peers (Ignite, Lightning) are measured when installed, else reported
as ``nan``.
"""

from __future__ import annotations

import importlib
import importlib.util
import math
import re
import subprocess
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import torch
from torch import nn

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"
CPU = torch.device("cpu")
TINY = ["--repeats", "1", "--steps", "2", "--epochs", "1", "2", "--paired-epochs", "3"]


@pytest.fixture
def load(monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.syspath_prepend(str(BENCHMARKS))

    def load(name: str) -> ModuleType:
        return importlib.import_module(name)

    threads = torch.get_num_threads()
    yield load
    torch.set_num_threads(threads)  # the benchmarks pin one thread; later tests expect the default


def _final_lines(output: str) -> dict[str, str]:
    return dict(re.findall(r"^(\w+)=(\S+)$", output, flags=re.MULTILINE))


def _installed(name: str) -> bool:
    return importlib.util.find_spec(name) is not None


def test_overhead_reports_every_case(load: Any, capsys: pytest.CaptureFixture[str]) -> None:
    values = load("overhead").main(TINY)
    lines = _final_lines(capsys.readouterr().out)
    assert lines["bit_identical"] == "true"
    for method in ("", "paired_"):
        for name in ("overhead_ratio", "plugins10_ratio", "plugins30_ratio", "per_listener_us"):
            assert math.isfinite(float(lines[method + name])), method + name
            assert float(lines[method + name]) == pytest.approx(values[method + name], abs=1e-4)
        for name, module in (("ignite_ratio", "ignite"), ("lightning_ratio", "lightning")):
            assert math.isfinite(float(lines[method + name])) == _installed(module), name
    assert float(lines["paired_noise_floor"]) > 0


def test_dispatch_reports_per_listener_cost(load: Any, capsys: pytest.CaptureFixture[str]) -> None:
    load("dispatch").main(["--repeats", "1", "--number", "50", "--listeners", "0", "3"])
    output = capsys.readouterr().out
    lines = _final_lines(output)
    for name in ("per_listener_us", "pluggy_per_listener_us", "event_us", "speedup_vs_pluggy"):
        assert math.isfinite(float(lines[name])), name
    assert "unitrain + wrapper" in output
    assert float(lines["noise_floor_us"]) >= 0
    for style in ("native", "t3w", "aitoolbox", "mixed", "aitoolbox_gated"):
        assert math.isfinite(float(lines[f"{style}_per_listener_us"])), style
    # counted, not timed: every style's listener is one call of its method (t3w's step
    # return is made once per event and shared); a gated-off callback is no call at all
    assert float(lines["native_calls_per_listener"]) == 1.0
    assert float(lines["aitoolbox_calls_per_listener"]) == 1.0
    assert 1.0 <= float(lines["t3w_calls_per_listener"]) <= 1.0 + 4 / 3
    assert float(lines["aitoolbox_gated_calls_per_listener"]) == 0.0


def test_dispatch_smoke_mode_prints_numbers(load: Any, capsys: pytest.CaptureFixture[str]) -> None:
    values = load("dispatch").main(["--smoke", "--number", "20"])
    output = capsys.readouterr().out
    lines = _final_lines(output)
    assert "K=0" in output and "K=10" in output and "3 interleaved repeats" in output
    assert float(lines["per_listener_us"]) == pytest.approx(values["per_listener_us"], abs=1e-4)


def test_realistic_reports_throughput_and_memory(
    load: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    load("realistic").main([*TINY, "--batch", "4", "--device", "cpu"])
    lines = _final_lines(capsys.readouterr().out)
    assert lines["bit_identical"] == "true" and lines["device"] == "cpu"
    # at these sizes the marginal time can come out negative on a busy machine: the value
    # means nothing here, only that it is reported
    assert math.isfinite(float(lines["throughput_ratio"]))
    assert math.isfinite(float(lines["paired_throughput_ratio"]))
    assert 0.5 < float(lines["peak_memory_ratio"]) < 2.0


def test_a_case_with_different_weights_is_rejected(load: Any) -> None:
    common = load("_common")
    batches = common.make_batches(2, 4, 32, 10, seed=0)

    def run(lr: float) -> Any:
        def train(epochs: int) -> nn.Module:
            model = common.tiny_mlp(1)
            optimizer = torch.optim.SGD(model.parameters(), lr=lr)
            loss = nn.CrossEntropyLoss()
            trained: nn.Module = common.raw_loop(model, batches, epochs, optimizer, loss, CPU)
            return trained

        return train

    cases = [common.Case("raw", run(0.1)), common.Case("other lr", run(0.2))]
    with pytest.raises(common.WeightMismatch, match="other lr"):
        common.measure(cases, run(0.1), epochs=(1, 2), steps_per_epoch=2, repeats=1)


def test_paired_epochs_reject_different_weights_and_count_ticks(load: Any) -> None:
    common, paired = load("_common"), load("_paired")
    batches = common.make_batches(2, 4, 32, 10, seed=0)

    def run(lr: float) -> Any:
        def train(epochs: int, tick: Any = None) -> nn.Module:
            model = common.tiny_mlp(1)
            optimizer = torch.optim.SGD(model.parameters(), lr=lr)
            loss = nn.CrossEntropyLoss()
            return common.raw_loop(model, batches, epochs, optimizer, loss, CPU, tick)  # type: ignore[no-any-return]

        return train

    def raw_epochs() -> Any:
        model = common.tiny_mlp(1)
        optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
        loss = nn.CrossEntropyLoss()
        return model, lambda: common.raw_loop(model, batches, 1, optimizer, loss, CPU)

    same = common.Case("same", run(0.1), run(0.1))
    result = paired.measure_paired([same], raw_epochs, run(0.1), epochs=4, repeats=2)
    assert len(result.ratios["same"]) == 2 * (4 - 2) and result.checked == 4
    other = common.Case("other lr", run(0.1), run(0.2))
    with pytest.raises(common.WeightMismatch, match="other lr"):
        paired.measure_paired([other], raw_epochs, run(0.1), epochs=3, repeats=1)


def test_instructions_runs_each_case_and_needs_valgrind(
    load: Any, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    module = load("instructions")
    for case in ("raw loop", "unitrain bare"):  # what each valgrind process runs
        module.main(["--worker", case, "1", "--steps", "2"])
    with pytest.raises(SystemExit, match="unknown case"):
        module.main(["--worker", "nothing", "1"])
    monkeypatch.setattr(module.shutil, "which", lambda name: None)
    assert math.isnan(module.main([])["instructions_ratio"])
    assert "valgrind is not installed" in capsys.readouterr().out


def test_instructions_runs_every_process_with_one_hash_seed(
    load: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    module = load("instructions")
    seen: list[tuple[list[str], str]] = []

    def valgrind(command: list[str], env: dict[str, str], **_: Any) -> Any:
        seen.append((command, env["PYTHONHASHSEED"]))
        report = "==1== I   refs:      1,234,567\n==1== I1  misses:  89\n==1== D1  misses: 1,000\n"
        return subprocess.CompletedProcess(command, 0, "", report)

    monkeypatch.setattr(module.subprocess, "run", valgrind)
    totals = module.count("raw loop", 3, 2, 7, tmp_path)
    assert totals == {"Ir": 1_234_567, "I1mr": 89, "D1mr": 1_000}
    command, seed = seen[0]
    assert (
        seed == "7"
        and command[0] == "valgrind"
        and command[-4:] == ["raw loop", "3", "--steps", "2"]
    )


def test_instructions_quick_counts_instructions_only_over_epochs_one_and_two(
    load: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    module = load("instructions")
    seen: list[list[str]] = []

    def valgrind(command: list[str], env: dict[str, str], **_: Any) -> Any:
        seen.append(command)
        return subprocess.CompletedProcess(command, 0, "", "==1== I   refs:      2,000\n")

    monkeypatch.setattr(module.subprocess, "run", valgrind)
    assert module.count("raw loop", 2, 4, 0, tmp_path, cache_sim=False) == {"Ir": 2000}
    assert "--cache-sim=no" in seen[0]
    per_process = {("raw loop", 1): 1_000, ("raw loop", 2): 3_000}
    per_process |= {("unitrain bare", 1): 1_000, ("unitrain bare", 2): 3_100}
    asked: list[tuple[str, int, bool]] = []

    def count(case: str, epochs: int, steps: int, seed: int, folder: Path, sim: bool) -> Any:
        asked.append((case, epochs, sim))
        return {"Ir": per_process[case, epochs]}

    monkeypatch.setattr(module, "count", count)
    monkeypatch.setattr(module.shutil, "which", lambda name: "/usr/bin/valgrind")
    values = module.main(["--quick", "--steps", "10"])
    assert sorted(asked) == sorted((c, e, False) for c, e in per_process)
    assert values["instructions_ratio"] == pytest.approx(210 / 200)
    assert math.isnan(values["i1_miss_ratio"]) and math.isnan(values["d1_miss_ratio"])


def test_checkpoint_stall_smoke_reports_both_modes(
    load: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    values = load("checkpoint_stall").main(["--smoke"])
    lines = _final_lines(capsys.readouterr().out)
    assert lines["bit_identical"] == "true"
    for name in ("sync_stall_median_s", "async_stall_median_s", "stall_ratio", "async_fit_s"):
        assert math.isfinite(float(lines[name])) and float(lines[name]) > 0, name
        assert float(lines[name]) == pytest.approx(values[name], rel=1e-4)
    assert values["sync_saves"] == values["async_saves"] == 3


def test_bus_overhead_smoke_reports_layer_stats(
    load: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    values = load("bus_overhead").main(["--smoke"])
    lines = _final_lines(capsys.readouterr().out)
    for model in ("mlp", "cnn"):
        for name in (
            "layer_stats_ratio", "per_tensor_ratio", "paired_noise_floor", "arithmetic_share",
        ):  # fmt: skip
            assert math.isfinite(float(lines[f"{model}_{name}"])), name
            assert float(lines[f"{model}_{name}"]) == pytest.approx(
                values[f"{model}_{name}"], abs=1e-4
            )
        assert 0 < values[f"{model}_arithmetic_share"] < 1  # some work, less than a step's
    assert math.isfinite(float(lines["bus_overhead_ratio"]))


@pytest.mark.slow
def test_compile_smoke_reports_compile_time_and_throughput_apart(
    load: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    torch._dynamo.reset()
    values = load("compile").main(["--smoke", "--cached"])
    torch._dynamo.reset()
    lines = _final_lines(capsys.readouterr().out)
    assert lines["weights_checked"] == "false"  # the smoke checks nothing (a few steps)
    assert float(lines["compile_s"]) > 0 and float(lines["compile_cpu_s"]) > 0
    for name in ("compile_s", "compile_cpu_s", "throughput_ratio", "throughput_ratio_min"):
        assert math.isfinite(float(lines[name])), name
        assert float(lines[name]) == pytest.approx(values[name], abs=1e-4)
    assert float(lines["max_abs_diff_vs_eager"]) < 1e-3
