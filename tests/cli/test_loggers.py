"""`unitrain fit` with the built-in loggers by name: TensorBoard events and an MLflow run in
the run folder, read back with TensorBoard's EventAccumulator and MlflowClient."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests._extras import require
from unitrain.cli import main
from unitrain.config.toml_out import dump_toml

from .conftest import tiny_config

pytestmark = pytest.mark.filterwarnings(
    # MLflow's SQL store uses a loader option SQLAlchemy 2.1 deprecates (not ours to fix)
    "ignore:The ``noload`` loader strategy is deprecated:DeprecationWarning"
)


def fit(tmp_path, capsys, **extra):
    config = {**tiny_config(tmp_path), **extra}
    path = tmp_path / "run.toml"
    path.write_text(dump_toml(config))
    assert main(["-v", "fit", str(path), "--plain"]) == 0
    captured = capsys.readouterr()
    (line,) = [x for x in captured.out.splitlines() if x.startswith("run: ")]
    return Path(line.removeprefix("run: ")), captured.err


def test_tensorboard_and_mlflow_by_name_write_into_the_run(tmp_path, capsys):
    require("tensorboard")
    require("mlflow")
    require("sqlalchemy")
    require("alembic")
    from mlflow.tracking import MlflowClient
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    options = {"tensorboard": {"every_n_steps": 1}, "mlflow": {"every_n_steps": 2}}
    run, err = fit(tmp_path, capsys, plugins=["tensorboard", "mlflow"], plugin_options=options)
    assert "tensorboard" in err and "mlflow" in err  # registered under their names
    events = EventAccumulator(str(run / "tensorboard"))
    events.Reload()
    assert [e.step for e in events.Scalars("train/loss")] == list(range(1, 9))
    assert len(events.Scalars("val/accuracy")) == 2
    client = MlflowClient(tracking_uri=f"sqlite:///{run / 'mlflow.db'}")
    (experiment,) = [e for e in client.search_experiments() if e.name == "default"]
    (found,) = client.search_runs([experiment.experiment_id])
    assert found.info.status == "FINISHED"
    params = found.data.params  # the resolved run config, flattened
    assert params["trainer.max_epochs"] == "2" and params["task"].endswith("tiny_task")
    steps = [m.step for m in client.get_metric_history(found.info.run_id, "train/loss")]
    assert steps == [2, 4, 6, 8]


def test_built_ins_by_name_with_options(tmp_path, capsys):
    run, err = fit(
        tmp_path,
        capsys,
        plugins=["nan_guard", "gradient_clipping", "lr_scheduler"],
        plugin_options={
            "gradient_clipping": {"max_norm": 1.0},
            "lr_scheduler": {"scheduler": "StepLR", "options": {"step_size": 1, "gamma": 0.5}},
        },
    )
    (plugins,) = [line for line in err.splitlines() if "plugins: " in line]
    for name in ("nan_guard", "gradient_clipping", "lr_scheduler"):
        assert name in plugins
    lrs = [json.loads(x).get("lr") for x in (run / "metrics.jsonl").read_text().splitlines()]
    assert [lr for lr in lrs if lr is not None] == [0.1] * 4 + [0.05] * 4  # StepLR, per epoch


def test_a_built_in_from_the_command_line_replaces_the_default_one(tmp_path, capsys):
    config = tiny_config(tmp_path)
    config["plugin_options"] = {"checkpoint": {"every_n_epochs": 2, "keep_last": 1}}
    path = tmp_path / "run.toml"
    path.write_text(dump_toml(config))
    assert main(["fit", str(path), "-p", "checkpoint", "--plain"]) == 0
    (line,) = [x for x in capsys.readouterr().out.splitlines() if x.startswith("run: ")]
    saved = sorted(p.name for p in (Path(line[5:]) / "checkpoints").glob("step-*"))
    assert saved == ["step-000000008"]  # every 2 epochs, keep 1: the options reached it
