"""Whole experiments: train a small model, save model + results, load it back, same outputs."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

from tests.compat.aitoolbox._tiny import TinyNet, make_batches, make_loop, same
from unitrain.compat.aitoolbox.experiment.experiment_saver import AbstractExperimentSaver
from unitrain.compat.aitoolbox.experiment.local_experiment_saver import (
    BaseFullExperimentLocalSaver,
    FullKerasExperimentLocalSaver,
    FullPyTorchExperimentLocalSaver,
)
from unitrain.compat.aitoolbox.experiment.local_load.local_model_load import (
    PyTorchLocalModelLoader,
)
from unitrain.compat.aitoolbox.experiment.local_save.local_results_save import LocalResultsSaver
from unitrain.compat.aitoolbox.experiment.result_package.basic_packages import (
    ClassificationResultPackage,
)
from unitrain.errors import ConfigError, ConfigTypeError


@pytest.mark.parametrize("separate_files", [False, True])
def test_train_save_reload_predict(tmp_path: Path, separate_files: bool) -> None:
    loop = make_loop()
    model = loop.fit(num_epochs=2)
    y_pred, y_true, _ = loop.predict_on_validation_set()
    results = ClassificationResultPackage()
    results.prepare_result_package(y_true, y_pred, {"lr": 0.1})
    saver = FullPyTorchExperimentLocalSaver("proj", "exp", str(tmp_path))
    payload = {
        "model_state_dict": model.state_dict(),
        "optimizer_state_dict": loop.optimizer.state_dict(),
        "epoch": loop.epoch,
        "hyperparams": {"lr": 0.1},
    }
    paths = saver.save_experiment(
        payload,
        results,
        loop.train_history,
        "ts",
        save_true_pred_labels=True,
        separate_files=separate_files,
    )
    folder = tmp_path / "proj" / "exp_ts"
    assert paths[0] == str(folder / "model" / "model_exp_ts.pth")
    assert len(paths) == (5 if separate_files else 2) + 3  # + the loss plots (2 epochs)
    assert all(os.path.isfile(path) for path in paths)

    loader = PyTorchLocalModelLoader(str(tmp_path))
    loader.load_model("proj", "exp", "ts", model_save_dir="model")
    reloaded = loader.init_model(TinyNet(seed=9))
    assert same(reloaded, model)
    inputs = torch.cat([x for x, _ in make_batches(2, seed=1)])
    assert torch.equal(reloaded(inputs).argmax(1), torch.as_tensor(y_pred))


def test_savers_check_what_they_are_given(tmp_path: Path) -> None:
    with pytest.raises(ConfigTypeError, match="AbstractLocalModelSaver"):
        BaseFullExperimentLocalSaver(LocalResultsSaver(str(tmp_path)), "p", "e", str(tmp_path))  # type: ignore[arg-type]
    keras = FullKerasExperimentLocalSaver("p", "e", str(tmp_path))
    assert isinstance(keras, AbstractExperimentSaver)
    with pytest.raises(ConfigError, match="Keras is not supported"):
        keras.save_experiment(object(), ClassificationResultPackage(), None, "ts")
