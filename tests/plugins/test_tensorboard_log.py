"""TensorBoard logger: the event files hold what the trainer computed, once per step."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

import unitrain as ut
from tests._extras import require
from tests.plugins._tiny import ValueRecorder as Recorder
from tests.plugins._tiny import tiny_batches, tiny_task
from tests.runs.trainkit import CrashAt, make_data, make_trainer
from unitrain.plugins.checkpoint import Checkpoint
from unitrain.plugins.run_store import RunStore
from unitrain.plugins.tensorboard_log import TensorBoardLog


@pytest.fixture(autouse=True)
def _needs_tensorboard(request: pytest.FixtureRequest) -> None:
    """Skip without the extra, except the test of what happens then."""
    if "missing_package" not in request.node.name:
        require("tensorboard")


def scalars(log_dir: Path) -> dict[str, list[tuple[int, float]]]:
    """``{tag: [(step, value), ...]}`` as TensorBoard reads it (purged events left out)."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    reader = EventAccumulator(str(log_dir))
    reader.Reload()
    return {
        tag: [(e.step, e.value) for e in reader.Scalars(tag)] for tag in reader.Tags()["scalars"]
    }


def test_train_epoch_and_eval_values_match_the_trainer(tmp_path: Path) -> None:
    recorder = Recorder()
    log = TensorBoardLog(tmp_path / "tb", every_n_steps=2)
    trainer = ut.Trainer(tiny_task(), max_epochs=2, device="cpu", plugins=[log, recorder])
    trainer.fit(tiny_batches(), eval_data={"val": tiny_batches()})
    tags = scalars(tmp_path / "tb")
    assert set(tags) == {
        "train/loss",
        "train_epoch/loss",
        "train_epoch/accuracy",
        "val/loss",
        "val/accuracy",
    }
    assert [step for step, _ in tags["train/loss"]] == [2, 4, 6, 8]
    assert [v for _, v in tags["train/loss"]] == pytest.approx(
        [recorder.losses[s] for s in (2, 4, 6, 8)], rel=1e-6
    )
    epoch_means = [
        sum(recorder.losses[s] for s in steps) / 4 for steps in ((1, 2, 3, 4), (5, 6, 7, 8))
    ]
    assert tags["train_epoch/loss"] == [
        (4, pytest.approx(epoch_means[0], rel=1e-5)),
        (8, pytest.approx(epoch_means[1], rel=1e-5)),
    ]
    for name in ("loss", "accuracy"):
        expected = [(step, recorder.evals[("val", step)][name]) for step in (4, 8)]
        assert tags[f"val/{name}"] == [(s, pytest.approx(v, rel=1e-6)) for s, v in expected]
    assert log.writer is None  # closed at fit end


def test_a_resumed_run_shows_each_step_once_with_the_uninterrupted_values(tmp_path: Path) -> None:
    reference = Recorder()
    make_trainer([reference]).fit(make_data(), eval_data=make_data())  # 3 epochs x 6 steps

    def plugins() -> list[object]:
        return [
            RunStore(tmp_path),
            Checkpoint(every_n_steps=4, every_n_epochs=None, on_exception=False),
            TensorBoardLog(every_n_steps=1),  # into <run dir>/tensorboard
        ]

    with pytest.raises(Exception, match="injected crash"):
        make_trainer([*plugins(), CrashAt(10)]).fit(make_data(), eval_data=make_data())
    (run_dir,) = (tmp_path / "default").iterdir()
    crashed = scalars(run_dir / "tensorboard")
    assert [s for s, _ in crashed["train/loss"]] == list(range(1, 11))  # steps 9, 10 not saved

    resumed = make_trainer(plugins())
    resumed.fit(make_data(), eval_data=make_data(), resume="latest")  # from step 8
    assert resumed.state.global_step == 18
    tags = scalars(run_dir / "tensorboard")
    assert [s for s, _ in tags["train/loss"]] == list(range(1, 19))  # 9 and 10 once each
    assert [v for _, v in tags["train/loss"]] == pytest.approx(
        [reference.losses[s] for s in range(1, 19)], rel=1e-5
    )
    assert [s for s, _ in tags["val/accuracy"]] == [6, 12, 18]
    assert [s for s, _ in tags["train_epoch/loss"]] == [6, 12, 18]


def test_standalone_evaluate_is_logged_and_the_writer_closed(tmp_path: Path) -> None:
    log = TensorBoardLog(tmp_path)
    trainer = ut.Trainer(tiny_task(), max_epochs=1, device="cpu", plugins=[log])
    metrics = trainer.evaluate(tiny_batches(), split="test")
    tags = scalars(tmp_path)
    assert tags["test/loss"] == [(0, pytest.approx(metrics["loss"], rel=1e-6))]
    assert log.writer is None


def test_without_a_directory_each_fit_gets_a_folder_of_its_own(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    logs = [TensorBoardLog(every_n_steps=1), TensorBoardLog(every_n_steps=1)]
    for log in logs:  # as the README shows it: no path, no run store
        ut.Trainer(tiny_task(), max_epochs=1, device="cpu", plugins=[log]).fit(tiny_batches())
    folders = sorted((tmp_path / "runs" / "tensorboard").iterdir())
    assert len(folders) == 2  # two runs, never one folder
    for folder in folders:
        assert [step for step, _ in scalars(folder)["train/loss"]] == [1, 2, 3, 4]


def test_with_a_run_store_events_go_into_the_run(tmp_path: Path) -> None:
    store = RunStore(tmp_path / "runs", "exp")
    trainer = ut.Trainer(
        tiny_task(), max_epochs=1, device="cpu", plugins=[store, TensorBoardLog(every_n_steps=2)]
    )
    trainer.fit(tiny_batches())
    assert store.run is not None
    assert [step for step, _ in scalars(store.run.path / "tensorboard")["train/loss"]] == [2, 4]


def test_bad_interval_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ut.ConfigError, match="every_n_steps=0"):
        TensorBoardLog(tmp_path, every_n_steps=0)


def test_a_missing_package_names_the_install_command(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)  # import raises
    with pytest.raises(ut.ConfigError, match=r"pip install 'unitrain\[tensorboard\]'"):
        TensorBoardLog("unused")
