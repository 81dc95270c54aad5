"""MLflow logger: params, metrics with steps and the end status, read back through MlflowClient."""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

import unitrain as ut
from tests._extras import require
from tests.plugins._tiny import ValueRecorder as Recorder
from tests.plugins._tiny import tiny_batches, tiny_task
from tests.runs.trainkit import CrashAt, make_data, make_trainer
from unitrain.plugins.checkpoint import Checkpoint
from unitrain.plugins.mlflow_log import MlflowLog, flatten_params
from unitrain.plugins.run_store import RunStore


@pytest.fixture(autouse=True)
def _needs_mlflow(request: pytest.FixtureRequest) -> None:
    """Skip without the extra, except the tests of what happens then."""
    if "missing" not in request.node.name:
        require("mlflow")
        require("sqlalchemy")  # the SQLite tracking store
        require("alembic")


def client_for(uri: str) -> Any:
    from mlflow.tracking import MlflowClient

    return MlflowClient(tracking_uri=uri)


# MLflow's SQL store still uses a loader option SQLAlchemy 2.1 deprecates (not ours to fix)
pytestmark = pytest.mark.filterwarnings(
    "ignore:The ``noload`` loader strategy is deprecated:DeprecationWarning"
)


@pytest.fixture(scope="module")
def uri(tmp_path_factory: pytest.TempPathFactory) -> str:
    """One database for the tests that pass their own URI (creating one takes seconds)."""
    return f"sqlite:///{tmp_path_factory.mktemp('mlflow') / 'mlflow.db'}"


def history(client: Any, run_id: str, key: str) -> list[tuple[int, float]]:
    return sorted((m.step, m.value) for m in client.get_metric_history(run_id, key))


def test_params_metrics_and_status_match_the_trainer(uri: str) -> None:
    recorder = Recorder()
    log = MlflowLog(
        uri, experiment="exp", params={"lr": 0.1, "model": {"hidden": 16}}, every_n_steps=2
    )
    trainer = ut.Trainer(tiny_task(), max_epochs=2, device="cpu", plugins=[log, recorder])
    trainer.fit(tiny_batches(), eval_data={"val": tiny_batches()})
    client = client_for(uri)
    assert log.run_id is not None
    run = client.get_run(log.run_id)
    assert run.info.status == "FINISHED"
    assert client.get_experiment(run.info.experiment_id).name == "exp"
    assert run.data.params == {"lr": "0.1", "model.hidden": "16"}
    assert set(run.data.metrics) == {
        "train/loss",
        "train_epoch/loss",
        "train_epoch/accuracy",
        "val/loss",
        "val/accuracy",
    }
    assert history(client, log.run_id, "train/loss") == [
        (s, pytest.approx(recorder.losses[s], rel=1e-6)) for s in (2, 4, 6, 8)
    ]
    means = [sum(recorder.losses[s] for s in range(a, a + 4)) / 4 for a in (1, 5)]
    assert history(client, log.run_id, "train_epoch/loss") == [
        (4, pytest.approx(means[0], rel=1e-5)),
        (8, pytest.approx(means[1], rel=1e-5)),
    ]
    for name in ("loss", "accuracy"):
        assert history(client, log.run_id, f"val/{name}") == [
            (s, pytest.approx(recorder.evals[("val", s)][name], rel=1e-6)) for s in (4, 8)
        ]


def test_a_crash_fails_the_run_and_the_resume_continues_it(tmp_path: Path) -> None:
    reference = Recorder()
    make_trainer([reference]).fit(make_data(), eval_data=make_data())  # 3 epochs x 6 steps

    def plugins() -> list[object]:
        return [
            RunStore(tmp_path, config={"optim": {"lr": 0.05}}),
            Checkpoint(every_n_steps=4, every_n_epochs=None, on_exception=False),
            MlflowLog(every_n_steps=1),  # sqlite:///<run dir>/mlflow.db
        ]

    crashing = make_trainer([*plugins(), CrashAt(10)])
    with pytest.raises(Exception, match="injected crash"):
        crashing.fit(make_data(), eval_data=make_data())
    (run_dir,) = (tmp_path / "default").iterdir()
    client = client_for(f"sqlite:///{run_dir / 'mlflow.db'}")
    run_id = crashing.plugins.get("mlflow_log").run_id
    crashed = client.get_run(run_id)
    assert (
        crashed.info.status == "FAILED" and "injected crash" in crashed.data.tags["unitrain.error"]
    )
    assert crashed.info.run_name == run_dir.name
    assert crashed.data.params == {"optim.lr": "0.05"}
    assert client.get_experiment(crashed.info.experiment_id).name == "default"

    resumed = make_trainer(plugins())
    resumed.fit(make_data(), eval_data=make_data(), resume="latest")  # from step 8
    assert resumed.plugins.get("mlflow_log").run_id == run_id  # the same MLflow run
    run = client.get_run(run_id)
    assert run.info.status == "FINISHED" and run.data.tags["unitrain.resumed_at_step"] == "8"
    losses = history(client, run_id, "train/loss")
    # MLflow keeps what the crashed attempt logged after the checkpoint: steps 9, 10 twice
    assert Counter(s for s, _ in losses) == Counter([*range(1, 19), 9, 10])
    assert losses == [(s, pytest.approx(reference.losses[s], rel=1e-5)) for s, _ in losses]
    assert [s for s, _ in history(client, run_id, "val/accuracy")] == [6, 12, 18]


def test_standalone_evaluate_gets_a_finished_run(uri: str) -> None:
    log = MlflowLog(uri, experiment="eval-only")
    trainer = ut.Trainer(tiny_task(), max_epochs=1, device="cpu", plugins=[log])
    metrics = trainer.evaluate(tiny_batches(), split="test")
    client = client_for(uri)
    assert log.run_id is not None and log.client is None
    assert client.get_run(log.run_id).info.status == "FINISHED"
    assert history(client, log.run_id, "test/loss") == [(0, pytest.approx(metrics["loss"]))]


def test_a_saved_run_unknown_to_the_store_gets_a_new_run(uri: str) -> None:
    log = MlflowLog(uri, experiment="moved")
    log.load_state_dict({"run_id": "0123456789abcdef0123456789abcdef"})  # from another store
    ut.Trainer(tiny_task(), max_epochs=1, device="cpu", plugins=[log]).fit(tiny_batches())
    assert log.run_id is not None and log.run_id != "0123456789abcdef0123456789abcdef"
    assert client_for(uri).get_run(log.run_id).info.status == "FINISHED"


def test_without_a_uri_or_run_store_the_trainer_parameters_are_recorded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    logs = [MlflowLog(), MlflowLog()]  # as the README shows it: no URI, no run store
    for log in logs:
        trainer = ut.Trainer(tiny_task(), max_epochs=2, device="cpu", plugins=[log])
        trainer.fit(tiny_batches())
    client = client_for(f"sqlite:///{tmp_path / 'runs' / 'mlflow.db'}")
    first, second = (client.get_run(log.run_id) for log in logs if log.run_id)
    assert first.info.run_id != second.info.run_id  # one MLflow run per fit
    params = first.data.params
    assert params["trainer.max_epochs"] == "2" and params["trainer.device"] == "cpu"
    assert params["model.class"] == "Sequential"
    assert params["model.parameters"] == str(
        sum(p.numel() for p in trainer.state.model.parameters())
    )
    assert params["optimizer.0.class"] == "SGD" and params["optimizer.0.lr"] == "0.1"
    assert first.info.status == "FINISHED"


def test_bad_interval_is_refused() -> None:
    with pytest.raises(ut.ConfigError, match="every_n_steps=0"):
        MlflowLog("sqlite:///unused.db", every_n_steps=0)


def test_a_missing_package_names_the_install_command(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "mlflow.tracking", None)  # import raises
    with pytest.raises(ut.ConfigError, match=r"pip install 'unitrain\[mlflow\]'"):
        MlflowLog("sqlite:///unused.db")


def test_a_missing_sql_store_names_the_install_command(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "sqlalchemy", None)  # mlflow-skinny alone
    with pytest.raises(ut.ConfigError, match=r"SQLite tracking URI needs .*pip install"):
        MlflowLog()


def test_nested_params_are_flattened() -> None:
    assert flatten_params({"a": {"b": 1, "c": {}}, "d": [1, 2]}) == {
        "a.b": "1",
        "a.c": "{}",
        "d": "[1, 2]",
    }
