"""Google Cloud Storage savers and loader: the S3 logic with GCS uploads.

google-cloud-storage is not installed in the test environment; a small in-memory stand-in
of its ``Client`` / bucket / blob API takes its place in ``sys.modules``.
"""

from __future__ import annotations

import sys
import types
from pathlib import Path

import pytest
import torch

from unitrain.compat.aitoolbox.cloud.GoogleCloud.model_load import PyTorchGoogleStorageModelLoader
from unitrain.compat.aitoolbox.cloud.GoogleCloud.model_save import (
    KerasGoogleStorageModelSaver,
    PyTorchGoogleStorageModelSaver,
)
from unitrain.compat.aitoolbox.experiment.experiment_saver import (
    FullPyTorchExperimentGoogleStorageSaver,
)
from unitrain.compat.aitoolbox.experiment.result_package.basic_packages import (
    RegressionResultPackage,
)
from unitrain.compat.aitoolbox.experiment.training_history import TrainingHistory
from unitrain.errors import ConfigError

MODEL = {
    "model_state_dict": {"w": torch.ones(2)},
    "optimizer_state_dict": {},
    "epoch": 0,
    "hyperparams": {},
}


class Blob:
    def __init__(self, store: dict[str, bytes], name: str) -> None:
        self.store, self.name = store, name

    def upload_from_filename(self, path: str) -> None:
        self.store[self.name] = Path(path).read_bytes()

    def download_to_filename(self, path: str) -> None:
        Path(path).write_bytes(self.store[self.name])


class Bucket:
    def __init__(self) -> None:
        self.store: dict[str, bytes] = {}

    def blob(self, name: str) -> Blob:
        return Blob(self.store, name)


@pytest.fixture
def gcs(monkeypatch: pytest.MonkeyPatch) -> dict[str, bytes]:
    bucket = Bucket()
    storage = types.ModuleType("google.cloud.storage")
    storage.Client = lambda: types.SimpleNamespace(get_bucket=lambda name: bucket)  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "google.cloud.storage", storage)
    return bucket.store


def test_experiment_saver_uploads_to_gcs_and_loader_reads_back(
    tmp_path: Path, gcs: dict[str, bytes]
) -> None:
    results = RegressionResultPackage()
    results.prepare_result_package([1.0], [2.0], {})
    history = TrainingHistory().wrap_pre_prepared_history({"loss": [1.0]})
    saver = FullPyTorchExperimentGoogleStorageSaver("p", "e", "bkt", "pre", str(tmp_path / "a"))
    model_path, results_path = saver.save_experiment(MODEL, results, history, "ts")
    assert model_path == "bkt/pre/p/e_ts/model/model_e_ts.pth"
    assert results_path == "bkt/pre/p/e_ts/results/results_hyperParams_hist_e_ts.p"
    assert sorted(gcs) == [
        "pre/p/e_ts/model/model_e_ts.pth",
        "pre/p/e_ts/results/results_hyperParams_hist_e_ts.p",
    ]
    loader = PyTorchGoogleStorageModelLoader(str(tmp_path / "b"), "bkt", "pre")
    loaded = loader.load_model("p", "e", "ts", "model")
    assert torch.equal(loaded["model_state_dict"]["w"], torch.ones(2))


def test_checkpoint_saver_and_refusals(
    tmp_path: Path, gcs: dict[str, bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    saver = PyTorchGoogleStorageModelSaver("bkt", "", str(tmp_path), checkpoint_model=True)
    cloud, _, local = saver.save_model(MODEL, "p", "e", "ts", epoch=1, iteration_idx=5)
    assert cloud == "bkt/p/e_ts/checkpoint_model/model_e_ts_E1_ITER5.pth"
    assert gcs["p/e_ts/checkpoint_model/model_e_ts_E1_ITER5.pth"] == Path(local).read_bytes()
    with pytest.raises(ConfigError, match="Keras is not supported"):
        KerasGoogleStorageModelSaver("bkt", "", str(tmp_path)).save_model(object(), "p", "e")
    monkeypatch.setitem(sys.modules, "google.cloud.storage", None)
    with pytest.raises(ConfigError, match="pip install google-cloud-storage"):
        PyTorchGoogleStorageModelSaver("bkt")
