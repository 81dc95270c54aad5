"""Trainer settings on real small fits: fast_dev_run, limit_eval_batches, overfit_batches,
max_time and deterministic, and the messages that refuse bad values."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from torch.utils.data import DataLoader, TensorDataset

import unitrain as ut
from tests.conftest import FEATURES, make_batches, make_task
from unitrain.core.config import TrainerConfig, parse_duration
from unitrain.errors import ConfigError
from unitrain.plugins.checkpoint import Checkpoint
from unitrain.plugins.metrics_log import MetricsLog
from unitrain.plugins.run_store import RunStore
from unitrain.plugins.tensorboard_log import TensorBoardLog
from unitrain.seeding import SEED_VARIABLE, WORKERS_VARIABLE, seed_everything, use_deterministic


class Counts:
    """Counts training steps, evaluation batches per split and prediction batches, and keeps
    the batches each training epoch and each evaluation saw."""

    def __init__(self) -> None:
        self.train_steps = 0
        self.eval_batches: dict[str, int] = {}
        self.eval_passes: dict[str, int] = {}
        self.predict_batches = 0
        self.epochs: list[list[Any]] = []
        self.evaluated: list[Any] = []

    def on_epoch_start(self) -> None:
        self.epochs.append([])

    def on_train_step_start(self, batch: Any) -> None:
        self.epochs[-1].append(batch)

    def on_train_step_end(self) -> None:
        self.train_steps += 1

    def on_eval_start(self, split: str) -> None:
        self.eval_passes[split] = self.eval_passes.get(split, 0) + 1

    def on_eval_step_start(self, split: str, batch: Any) -> None:
        self.eval_batches[split] = self.eval_batches.get(split, 0) + 1
        self.evaluated.append(batch)

    def on_predict_step_end(self) -> None:
        self.predict_batches += 1


class Slow:
    """Sleeps after every training step: a step that takes ``seconds``."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    def on_train_step_end(self) -> None:
        time.sleep(self.seconds)


class CountedIterations:
    """Re-iterable batches that count how often they were iterated."""

    def __init__(self, batches: list[Any]) -> None:
        self.batches, self.iterations = batches, 0

    def __iter__(self) -> Iterator[Any]:
        self.iterations += 1
        return iter(self.batches)

    def __len__(self) -> int:
        return len(self.batches)


@pytest.fixture(autouse=True)
def _not_deterministic(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Deterministic mode and the seed variable are process-wide: undone after each test."""
    monkeypatch.delenv(SEED_VARIABLE, raising=False)
    monkeypatch.delenv(WORKERS_VARIABLE, raising=False)
    monkeypatch.delenv("CUBLAS_WORKSPACE_CONFIG", raising=False)
    yield
    use_deterministic(False)


def trainer(counts: Counts, *plugins: object, **settings: Any) -> ut.Trainer:
    return ut.Trainer(make_task(), plugins=[counts, *plugins], device="cpu", **settings)


def files_under(path: Path) -> list[Path]:
    return sorted(path.rglob("*"))


# ------------------------------------------------------------------ fast_dev_run


@pytest.mark.parametrize(("setting", "n"), [(True, 1), (1, 1), (3, 3)])
def test_fast_dev_run_runs_n_batches_of_each_phase(setting: bool | int, n: int) -> None:
    counts = Counts()
    engine = trainer(counts, fast_dev_run=setting, max_epochs=5, max_steps=100)
    evals = {"val": make_batches(6, seed=1), "test": make_batches(6, seed=2)}
    state = engine.fit(make_batches(8), evals)
    assert counts.train_steps == n and state.global_step == n and state.epoch == 1
    assert counts.eval_batches == {"val": n, "test": n}
    assert counts.eval_passes == {"val": 1, "test": 1}  # once, at the one epoch's end
    assert state.dry_run
    engine.predict(make_batches(6))
    assert counts.predict_batches == n
    engine.evaluate(make_batches(6), "holdout")
    assert counts.eval_batches["holdout"] == n


def test_fast_dev_run_needs_no_length_and_ignores_step_evaluation() -> None:
    counts = Counts()
    engine = trainer(counts, fast_dev_run=2, eval_every_steps=1, eval_every_epochs=3)
    state = engine.fit(make_batches(5), make_batches(4))
    assert (counts.train_steps, counts.eval_passes, counts.eval_batches) == (
        2,
        {"val": 1},
        {"val": 2},
    )
    assert state.epoch == 1


def test_fast_dev_run_writes_nothing_and_says_so(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    counts = Counts()
    plugins = (
        RunStore(tmp_path / "runs"),
        Checkpoint(every_n_steps=1),  # in the run folder, which is not made
        MetricsLog(tmp_path / "metrics.jsonl", every_n_steps=1),
        TensorBoardLog(tmp_path / "tensorboard", every_n_steps=1),
    )
    engine = trainer(counts, *plugins, fast_dev_run=True, max_epochs=3)
    engine.add_plugin(Checkpoint(tmp_path / "checkpoints", every_n_steps=1), "own_checkpoints")
    with caplog.at_level(logging.INFO, logger="unitrain"):
        engine.fit(make_batches(4), make_batches(2))
        engine.evaluate(make_batches(2))
    assert files_under(tmp_path) == []
    assert counts.train_steps == 1
    assert any("fast_dev_run=1: a dev run" in r.getMessage() for r in caplog.records)


def test_without_fast_dev_run_the_same_plugins_write(tmp_path: Path) -> None:
    """The control of the test above: the writers do write when the run is not a dev run."""
    plugins = (
        RunStore(tmp_path / "runs"),
        Checkpoint(tmp_path / "checkpoints", every_n_steps=1),
        MetricsLog(tmp_path / "metrics.jsonl", every_n_steps=1),
        TensorBoardLog(tmp_path / "tensorboard", every_n_steps=1),
    )
    trainer(Counts(), *plugins, max_steps=1).fit(make_batches(4), make_batches(2))
    made = {p.relative_to(tmp_path).parts[0] for p in files_under(tmp_path)}
    assert made == {"runs", "checkpoints", "metrics.jsonl", "tensorboard"}


# ------------------------------------------------------------------ limit_eval_batches


def test_limit_eval_batches_caps_every_evaluation_pass() -> None:
    counts = Counts()
    engine = trainer(counts, max_epochs=2, limit_eval_batches=2)
    engine.fit(make_batches(3), {"val": make_batches(5, seed=1), "test": make_batches(1)})
    assert counts.eval_passes == {"val": 2, "test": 2}
    assert counts.eval_batches == {"val": 4, "test": 2}  # 2 passes, each ≤ 2 batches
    assert counts.train_steps == 6  # training is not limited


def test_limit_eval_batches_evaluates_the_first_batches() -> None:
    data = make_batches(5, seed=3)
    limited = trainer(Counts(), max_epochs=1, limit_eval_batches=2).evaluate(data)
    control = trainer(Counts(), max_epochs=1).evaluate(data[:2])  # same initial weights
    assert limited == control
    assert limited != trainer(Counts(), max_epochs=1).evaluate(data)


# ------------------------------------------------------------------ overfit_batches


def test_overfit_batches_reuses_the_same_tensors_every_epoch() -> None:
    inputs = torch.randn(32, FEATURES, generator=torch.Generator().manual_seed(0))
    dataset = TensorDataset(inputs, (inputs.sum(1) > 0).long())
    loader = DataLoader(dataset, batch_size=4, shuffle=True)
    counts = Counts()
    engine = ut.Trainer(
        make_task(), plugins=[counts], device="cpu", max_epochs=4, overfit_batches=3
    )
    engine.fit(loader, {"val": make_batches(5)})
    assert [len(epoch) for epoch in counts.epochs] == [3, 3, 3, 3]
    first = counts.epochs[0]
    for epoch in counts.epochs[1:]:  # the very same tensors, not a new shuffled draw
        assert all(a[0] is b[0] and a[1] is b[1] for a, b in zip(epoch, first, strict=True))
    # evaluation runs on those same batches, not on the val data given
    assert counts.eval_batches == {"val": 12}
    assert all(b[0] is first[i % 3][0] for i, b in enumerate(counts.evaluated))
    # the stored val metrics are those of the kept batches
    assert engine.evaluate(first) == engine.state.eval_metrics["val"]


def test_overfit_batches_draws_the_loader_once() -> None:
    data = CountedIterations(make_batches(6))
    counts = Counts()
    trainer(counts, max_epochs=3, overfit_batches=2).fit(data)
    assert data.iterations == 1
    assert counts.train_steps == 6
    assert [b for epoch in counts.epochs for b in epoch] == data.batches[:2] * 3


def test_overfit_batches_more_than_the_data_has() -> None:
    with pytest.raises(ConfigError, match=r"overfit_batches=5, but train_data yielded only 2"):
        trainer(Counts(), max_epochs=1, overfit_batches=5).fit(make_batches(2))


# ------------------------------------------------------------------ max_time


def test_max_time_stops_cleanly_and_the_last_checkpoint_is_saved(tmp_path: Path) -> None:
    step, limit = 0.05, 0.4
    checkpoint = Checkpoint(tmp_path, every_n_epochs=None)
    engine = trainer(Counts(), Slow(step), checkpoint, max_epochs=1000, max_time=limit)
    started = time.monotonic()
    state = engine.fit(make_batches(4))
    elapsed = time.monotonic() - started
    assert state.stop_reason == f"max_time={limit:g} s reached"
    # the limit, one step past it, and slack for a shared machine
    assert limit <= elapsed < limit + step + 1.5
    assert state.global_step >= int(limit / step) - 1 and state.epoch < 1000
    assert checkpoint.last_saved is not None
    assert checkpoint.last_saved.name == f"step-{state.global_step:09d}"


def test_max_time_counts_from_each_fit_start() -> None:
    engine = trainer(Counts(), Slow(0.02), max_epochs=1, max_time=0.5)
    time.sleep(0.6)  # the trainer's age does not count
    state = engine.fit(make_batches(3))
    assert state.stop_reason == "" and state.global_step == 3


@pytest.mark.parametrize(
    ("given", "seconds"),
    [
        (90, 90.0),
        (0.5, 0.5),
        (timedelta(minutes=2), 120.0),
        ("00:12:00:00", 43200.0),
        ("1:00:00:05", 86405.0),
    ],
)
def test_max_time_forms(given: object, seconds: float) -> None:
    engine = trainer(Counts(), max_epochs=1, max_time=given)
    assert engine.config.max_time == seconds


@given(st.integers(0, 400), st.integers(0, 23), st.integers(0, 59), st.integers(0, 59))
def test_duration_string_equals_its_timedelta(d: int, h: int, m: int, s: int) -> None:
    delta = timedelta(days=d, hours=h, minutes=m, seconds=s)
    if delta.total_seconds() == 0:
        with pytest.raises(ValueError, match="> 0"):
            parse_duration(f"{d:02d}:{h:02d}:{m:02d}:{s:02d}")
    else:
        assert parse_duration(f"{d:02d}:{h:02d}:{m:02d}:{s:02d}") == parse_duration(delta)
        assert parse_duration(delta) == delta.total_seconds()


# ------------------------------------------------------------------ deterministic


def _deterministic_fit(tmp_path: Path, name: str) -> tuple[list[torch.Tensor], dict[str, Any]]:
    seed_everything(11)
    layers = (torch.nn.Linear(FEATURES, 16), torch.nn.Dropout(0.3), torch.nn.ReLU())
    model = torch.nn.Sequential(*layers, torch.nn.Linear(16, 2))
    inputs = torch.randn(48, FEATURES)
    dataset = TensorDataset(inputs, (inputs.sum(1) > 0).long())
    loader = DataLoader(dataset, batch_size=6, shuffle=True)
    store = RunStore(tmp_path / name)
    ut.Trainer(
        make_task(model), plugins=[store], device="cpu", max_epochs=2, deterministic=True
    ).fit(loader)
    assert store.run is not None
    info = json.loads(store.run.run_json.read_text())
    return [p.detach().clone() for p in model.parameters()], info


def test_two_seeded_deterministic_runs_are_bit_equal_and_recorded(tmp_path: Path) -> None:
    first, info = _deterministic_fit(tmp_path, "a")
    torch.rand(5)  # whatever ran in between
    second, _ = _deterministic_fit(tmp_path, "b")
    assert all(torch.equal(a, b) for a, b in zip(first, second, strict=True))
    assert torch.are_deterministic_algorithms_enabled()
    assert info["deterministic"] is True and info["seed"] == 11


def test_a_run_without_deterministic_records_it(tmp_path: Path) -> None:
    store = RunStore(tmp_path)
    trainer(Counts(), store, max_epochs=1).fit(make_batches(2))
    assert store.run is not None
    info = json.loads(store.run.run_json.read_text())
    assert info["deterministic"] is False and info["seed"] is None


# ------------------------------------------------------------------ bad values


def test_bad_values_are_all_reported_at_once() -> None:
    with pytest.raises(ConfigError) as caught:
        trainer(
            Counts(),
            max_epochs=1,
            fast_dev_run=-1,
            limit_eval_batches=0,
            overfit_batches=0,
            max_time="soon",
            deterministic="maybe",
        )
    message = str(caught.value)
    assert message.startswith("5 problem(s) in the TrainerConfig settings:")
    for expected in (
        "fast_dev_run: Value error, expected True / False or a number of batches >= 0, got -1",
        "limit_eval_batches: Input should be greater than or equal to 1",
        "overfit_batches: Input should be greater than or equal to 1",
        "max_time: Value error, 'soon' is not a duration; write days:hours:minutes:seconds",
        "deterministic: Input should be a valid boolean",
    ):
        assert expected in message


@pytest.mark.parametrize(
    ("settings", "expected"),
    [
        ({"max_time": 0}, "max_time: Value error, must be a finite time > 0, got 0"),
        ({"max_time": -5.0}, "must be a finite time > 0"),
        ({"max_time": "1:02:03"}, "'1:02:03' is not a duration"),
        ({"max_time": True}, "expected seconds (a number), a datetime.timedelta"),
        ({"fast_dev_run": 1.5}, "fast_dev_run: Value error, expected True / False"),
        (
            {"overfit_batches": 2, "limit_train_batches": 3},
            "overfit_batches and limit_train_batches both set",
        ),
    ],
)
def test_each_bad_value_is_named(settings: dict[str, Any], expected: str) -> None:
    with pytest.raises(ConfigError) as caught:
        trainer(Counts(), max_epochs=1, **settings)
    assert expected in str(caught.value)


def test_without_fast_dev_run_a_length_is_still_required() -> None:
    with pytest.raises(ConfigError, match="give max_epochs or max_steps"):
        trainer(Counts(), fast_dev_run=False)


def test_the_settings_are_trainer_config_fields() -> None:
    """The CLI builds a Trainer from TrainerConfig's fields: each new setting is one."""
    fields = set(TrainerConfig.model_fields)
    assert {
        "fast_dev_run",
        "limit_eval_batches",
        "overfit_batches",
        "max_time",
        "deterministic",
    } <= fields


@pytest.mark.parametrize("dev_run", [True, False])
def test_mlflow_log_skips_a_dev_run(
    tmp_path: Path, dev_run: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("mlflow")
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")  # no SQLAlchemy needed
    from unitrain.plugins.mlflow_log import MlflowLog

    store = tmp_path / "mlruns"
    logger = MlflowLog(store.as_uri(), experiment="settings", every_n_steps=1)
    length: dict[str, Any] = {"fast_dev_run": True} if dev_run else {"max_steps": 1}
    trainer(Counts(), logger, **length).fit(make_batches(2), make_batches(1))
    assert (files_under(tmp_path) == []) is dev_run


def test_the_settings_round_trip_through_the_config_the_cli_builds() -> None:
    """The CLI's ``[trainer]`` table becomes ``Trainer(**TrainerConfig(...).model_dump())``."""
    dumped = TrainerConfig(
        fast_dev_run=True,
        max_time="00:00:01:30",
        limit_eval_batches=2,
        deterministic=True,
        device="cpu",
    ).model_dump()
    assert (dumped["fast_dev_run"], dumped["max_time"]) == (1, 90.0)
    engine = ut.Trainer(make_task(), **dumped)
    assert engine.settings.model_dump() == dumped
    assert engine.config.max_epochs == 1 and engine.config.limit_train_batches == 1


def test_a_cli_dev_run_writes_nothing(tmp_path: Path) -> None:
    """``unitrain fit ... --set trainer.fast_dev_run=1``: the CLI's built-in run store and
    checkpoint write nothing, in a real subprocess."""
    root = Path(__file__).resolve().parent.parent
    command = [
        sys.executable,
        "-m",
        "unitrain",
        "fit",
        str(root / "examples" / "digits" / "run.toml"),
        "--set",
        "trainer.fast_dev_run=1",
        "--set",
        f"run.root={json.dumps(str(tmp_path / 'runs'))}",
    ]
    environment = {**os.environ, "PYTHONPATH": str(root), "OMP_NUM_THREADS": "1"}
    done = subprocess.run(
        command, cwd=tmp_path, env=environment, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    assert "fast_dev_run=1: a dev run of 1 training batch(es)" in done.stdout + done.stderr
    assert files_under(tmp_path) == []


def test_max_time_stops_at_the_end_of_an_accumulation_window() -> None:
    """A deadline passed inside a window stops after its optimizer step, not inside it."""
    counts = Counts()
    engine = trainer(counts, max_epochs=5, accumulation=3, max_time=1e-9)
    state = engine.fit(make_batches(7))
    assert (state.micro_step, state.global_step, state.epoch) == (3, 1, 1)
    assert state.stop_reason == "max_time=1e-09 s reached"
    assert all(p.grad is None for p in engine.task.model.parameters())  # no half window left


def _max_time_on_rank_zero_only() -> tuple[int, int, int, str]:
    """One rank of a 2-process run; only rank 0 has a (past) deadline."""
    rank = int(os.environ["RANK"])
    inputs = torch.randn(32, FEATURES, generator=torch.Generator().manual_seed(0))
    loader = DataLoader(TensorDataset(inputs, (inputs.sum(1) > 0).long()), batch_size=4)
    settings: dict[str, Any] = {"max_time": 1e-9} if rank == 0 else {}
    engine = ut.Trainer(make_task(), max_epochs=3, accumulation=2, **settings)
    state = engine.fit(loader)
    return state.global_step, state.micro_step, state.epoch, state.stop_reason


def test_a_max_time_stop_on_one_rank_stops_every_rank_at_the_same_step() -> None:
    """The deadline is checked before on_train_step_end, where the ranks agree on stops."""
    from unitrain.distributed import launch

    ranks = launch(_max_time_on_rank_zero_only, "cpu:2", start_method="fork", timeout=120)
    assert ranks == [
        (1, 2, 1, "max_time=1e-09 s reached"),
        (1, 2, 1, "stop requested on rank(s) [0]"),
    ]
