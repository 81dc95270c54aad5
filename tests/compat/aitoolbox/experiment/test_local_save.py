"""Local saving: model files, results files (pickle / JSON), keeping the best models."""

from __future__ import annotations

import json
import os
import pickle
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from torch import nn

from unitrain.compat.aitoolbox.experiment.local_save.local_model_save import (
    KerasLocalModelSaver,
    LocalSubOptimalModelRemover,
    PyTorchLocalModelSaver,
)
from unitrain.compat.aitoolbox.experiment.local_save.local_results_save import (
    BaseLocalResultsSaver,
    LocalResultsSaver,
)
from unitrain.compat.aitoolbox.experiment.result_package.basic_packages import (
    RegressionResultPackage,
)
from unitrain.compat.aitoolbox.experiment.training_history import TrainingHistory
from unitrain.errors import ConfigError


def model_dict() -> dict[str, Any]:
    return {
        "model_state_dict": nn.Linear(2, 1).state_dict(),
        "optimizer_state_dict": {},
        "epoch": 3,
        "hyperparams": {"lr": 0.1},
    }


@pytest.mark.parametrize(
    ("checkpoint", "epoch", "iteration", "name"),
    [
        (False, None, None, "model_exp_ts.pth"),
        (True, 4, None, "model_exp_ts_E4.pth"),
        (True, 4, 17, "model_exp_ts_E4_ITER17.pth"),
    ],
)
def test_model_saver_layout_and_names(
    tmp_path: Path, checkpoint: bool, epoch: int | None, iteration: int | None, name: str
) -> None:
    saver = PyTorchLocalModelSaver(str(tmp_path), checkpoint_model=checkpoint)
    saved = model_dict()
    saved_name, path = saver.save_model(saved, "proj", "exp", "ts", epoch, iteration)
    folder = tmp_path / "proj" / "exp_ts" / ("checkpoint_model" if checkpoint else "model")
    assert (saved_name, path) == (name, str(folder / name))
    assert os.listdir(folder) == [name]  # no temporary file left behind
    loaded = torch.load(path, weights_only=True)
    assert torch.equal(loaded["model_state_dict"]["weight"], saved["model_state_dict"]["weight"])
    assert loaded["epoch"] == 3 and loaded["hyperparams"] == {"lr": 0.1}


def test_model_saver_refuses_incomplete_dicts_before_writing(tmp_path: Path) -> None:
    saver = PyTorchLocalModelSaver(str(tmp_path))
    incomplete = {k: v for k, v in model_dict().items() if k != "epoch"}
    with pytest.raises(ConfigError, match=r"lacks \['epoch'\]"):
        saver.save_model(incomplete, "proj", "exp", "ts")
    with pytest.raises(ConfigError, match="must be a dict"):
        saver.save_model(nn.Linear(1, 1), "proj", "exp", "ts")
    assert os.listdir(tmp_path) == []


def test_a_missing_root_folder_is_created(tmp_path: Path) -> None:
    saver = PyTorchLocalModelSaver(str(tmp_path / "new" / "root"))
    _, path = saver.save_model(model_dict(), "proj", "exp", "ts")
    assert path == str(tmp_path / "new" / "root" / "proj" / "exp_ts" / "model" / "model_exp_ts.pth")


def test_keras_savers_refuse_clearly(tmp_path: Path) -> None:
    saver = KerasLocalModelSaver(str(tmp_path), checkpoint_model=True)
    assert saver.checkpoint_model
    with pytest.raises(ConfigError, match="Keras is not supported"):
        saver.save_model(object(), "proj", "exp", "ts", 1)


def test_remover_keeps_the_best_files_and_deletes_the_rest(tmp_path: Path) -> None:
    remover = LocalSubOptimalModelRemover("val_loss", num_best_kept=2)
    history = TrainingHistory()
    files = []
    for epoch, loss in enumerate([0.5, 0.3, 0.4, 0.1]):
        history["val_loss"] = loss
        path = tmp_path / f"E{epoch}.pth"
        path.write_bytes(b"x")
        files.append(path)
        remover.decide_if_remove_suboptimal_model(history, [str(path)])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["E1.pth", "E3.pth"]
    assert [value for _, value in remover.model_save_history] == [0.1, 0.3]


def test_remover_waits_one_epoch_for_a_metric_computed_after_saving(tmp_path: Path) -> None:
    remover = LocalSubOptimalModelRemover("val_acc", num_best_kept=1)
    assert not remover.decrease_metric and not remover.is_default_metric
    history: dict[str, list[float]] = {"val_acc": []}
    for epoch, acc in enumerate([0.5, 0.9, 0.7]):
        path = tmp_path / f"E{epoch}.pth"
        path.write_bytes(b"x")
        remover.decide_if_remove_suboptimal_model(history, [str(path)])
        history["val_acc"].append(acc)
    # E2's score is not known yet, so it is kept; of E0 (0.5) and E1 (0.9), E1 stays.
    assert sorted(p.name for p in tmp_path.iterdir()) == ["E1.pth", "E2.pth"]
    with pytest.raises(ConfigError, match="keep at least 1"):
        LocalSubOptimalModelRemover("loss", num_best_kept=0)


def package() -> RegressionResultPackage:
    result = RegressionResultPackage()
    result.prepare_result_package(
        np.array([1.0, 2.0]),
        np.array([1.0, 3.0]),
        {"bash_script_path": "a", "experiment_file_path": "b"},
    )
    return result


def read(path: str) -> Any:
    if path.endswith(".json"):
        with open(path) as handle:
            return json.load(handle)
    with open(path, "rb") as handle:
        return pickle.load(handle)  # the test's own file, written just above


@pytest.mark.parametrize("file_format", ["pickle", "json"])
def test_results_in_one_file(tmp_path: Path, file_format: str) -> None:
    saver = LocalResultsSaver(str(tmp_path), file_format)
    history = TrainingHistory().wrap_pre_prepared_history({"loss": [1.0]})
    saved = saver.save_experiment_results(
        package(), history, "p", "e", "ts", save_true_pred_labels=True
    )
    extension = ".p" if file_format == "pickle" else ".json"
    folder = tmp_path / "p" / "e_ts" / "results"
    assert saved == [
        [
            f"results_hyperParams_hist_e_ts{extension}",
            str(folder / f"results_hyperParams_hist_e_ts{extension}"),
        ]
    ]
    content = read(saved[0][1])
    assert content["results"] == {"Mean_squared_error": 0.5, "Mean_absolute_error": 0.5}
    assert content["training_history"] == {"loss": [1.0]}
    assert content["experiment_results_local_path"] == str(folder)
    assert list(np.asarray(content["y_predicted"])) == [1.0, 3.0]


def test_results_in_separate_files_with_plots(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    saver = LocalResultsSaver(str(tmp_path), "json")
    history = TrainingHistory().wrap_pre_prepared_history({"loss": [1.0, 0.5], "acc": [0.7]})
    saved = saver.save_experiment_results_separate_files(package(), history, "p", "e", "ts", True)
    names = [name for name, _ in saved]
    assert names == [
        "results_e_ts.json",
        "hyperparams_e_ts.json",
        "train_history_e_ts.json",
        "true_pred_labels_e_ts.json",
        os.path.join("plots", "loss.png"),
    ]
    assert all(os.path.isfile(path) for _, path in saved)
    assert read(saved[1][1])["hyperparameters"] == {
        "bash_script_path": "a",
        "experiment_file_path": "b",
    }


def test_file_format_fallback_and_forced_bad_format(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    saver = BaseLocalResultsSaver(str(tmp_path), "yaml")
    assert saver.file_format == "pickle" and "using 'pickle'" in capsys.readouterr().out
    saver.file_format = "yaml"
    with pytest.raises(ConfigError, match="'yaml' is not supported"):
        saver.save_file({}, "x", str(tmp_path / "x"))
    assert BaseLocalResultsSaver("~/r").local_model_result_folder_path == os.path.expanduser("~/r")
