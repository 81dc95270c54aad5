"""What run.json records about a fit for the report: plugins, monitors, hyperparameters,
model, versions; and an older run.json without them still opens."""

from __future__ import annotations

from pathlib import Path

import torch

from tests.runs.trainkit import make_data, make_trainer
from unitrain.plugins.early_stopping import EarlyStopping
from unitrain.plugins.run_store import RunStore
from unitrain.runs.describe import MAX_MODULES, model_facts
from unitrain.runs.store import RunDir, versions


def test_a_fit_records_its_plugins_monitors_hyperparameters_and_model(tmp_path: Path) -> None:
    store = RunStore(tmp_path, monitor="accuracy", mode="max")
    stopper = EarlyStopping("loss", patience=9)
    make_trainer([store, stopper], max_epochs=1).fit(make_data(), eval_data={"val": make_data()})
    (folder,) = (tmp_path / "default").iterdir()
    info = RunDir.open(folder).info()
    names = [p["name"] for p in info["plugins"]]
    assert names[0] == "run_store" and {"task", "early_stopping"} <= set(names)
    assert info["plugins"][0] == {
        "name": "run_store",
        "class": "unitrain.plugins.run_store.RunStore",
        "order": -1000,
        "ranks": "main",
        "distribution": None,
    }
    assert info["monitors"] == [
        {"plugin": "run_store", "metric": "val/accuracy", "mode": "max"},
        {"plugin": "early_stopping", "metric": "val/loss", "mode": "min"},
    ]
    hyper = info["hyperparameters"]
    assert hyper["max_epochs"] == 1 and hyper["accumulation"] == 1 and hyper["device"] == "cpu"
    (adam,) = hyper["optimizers"]
    assert adam["class"] == "Adam" and adam["groups"][0]["lr"] == 0.05
    assert adam["groups"][0]["betas"] == [0.9, 0.999] and "params" not in adam["groups"][0]
    model = info["model"]
    assert model["class"] == "Sequential" and model["parameters"] == 4 * 8 + 8 + 8 * 2 + 2
    assert model["modules"] == {"0": "Linear", "1": "ReLU", "2": "Dropout", "3": "Linear"}
    assert info["versions"]["torch"] == torch.__version__ and "pluggy" in info["versions"]
    assert info["started"] <= info["ended"]


def test_versions_name_python_and_the_libraries() -> None:
    found = versions()
    assert {"python", "platform", "unitrain", "torch", "pluggy", "numpy"} <= set(found)
    assert all(isinstance(v, str) and v for v in found.values())


def test_a_huge_model_names_at_most_max_modules() -> None:
    model = torch.nn.Sequential(*(torch.nn.Identity() for _ in range(MAX_MODULES + 5)))
    facts = model_facts(model)
    assert len(facts["modules"]) == MAX_MODULES and facts["modules_total"] == MAX_MODULES + 5
