"""S3 savers: files saved locally, then uploaded with boto3 (against moto's fake S3)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from unitrain.compat.aitoolbox.cloud import s3_available_options
from unitrain.compat.aitoolbox.cloud.AWS.data_access import BaseDataSaver
from unitrain.compat.aitoolbox.cloud.AWS.model_load import BaseModelLoader, PyTorchS3ModelLoader
from unitrain.compat.aitoolbox.cloud.AWS.model_save import KerasS3ModelSaver, PyTorchS3ModelSaver
from unitrain.compat.aitoolbox.experiment.experiment_saver import FullPyTorchExperimentS3Saver
from unitrain.compat.aitoolbox.experiment.result_package.basic_packages import (
    RegressionResultPackage,
)
from unitrain.compat.aitoolbox.experiment.training_history import TrainingHistory
from unitrain.errors import ConfigError, ConfigTypeError

moto = pytest.importorskip("moto")
boto3 = pytest.importorskip("boto3")

MODEL = {"model_state_dict": {}, "optimizer_state_dict": {}, "epoch": 1, "hyperparams": {}}


@pytest.fixture
def bucket(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    for name, value in (
        ("AWS_ACCESS_KEY_ID", "testing"),
        ("AWS_SECRET_ACCESS_KEY", "testing"),
        ("AWS_DEFAULT_REGION", "us-east-1"),
    ):
        monkeypatch.setenv(name, value)
    # moto 5 calls it mock_aws; moto 4 (which aitoolbox's own suite needs) mock_s3.
    mock = getattr(moto, "mock_aws", None) or moto.mock_s3
    with mock():
        client = boto3.client("s3")
        client.create_bucket(Bucket="models")
        yield client


def keys(client: Any) -> list[str]:
    return sorted(
        item["Key"] for item in client.list_objects_v2(Bucket="models").get("Contents", [])
    )


def test_model_saver_uploads_the_local_file(tmp_path: Path, bucket: Any) -> None:
    saver = PyTorchS3ModelSaver("models", "runs", str(tmp_path), checkpoint_model=True)
    cloud, timestamp, local = saver.save_model(MODEL, "proj", "exp", "ts", epoch=2)
    assert (
        cloud == "models/runs/proj/exp_ts/checkpoint_model/model_exp_ts_E2.pth"
        and timestamp == "ts"
    )
    assert keys(bucket) == ["runs/proj/exp_ts/checkpoint_model/model_exp_ts_E2.pth"]
    assert (
        Path(local).read_bytes() == bucket.get_object(Bucket="models", Key=cloud[7:])["Body"].read()
    )


def test_full_experiment_saver_uploads_model_and_results(tmp_path: Path, bucket: Any) -> None:
    results = RegressionResultPackage()
    results.prepare_result_package([1.0, 2.0], [1.0, 1.0], {})
    history = TrainingHistory().wrap_pre_prepared_history({"loss": [1.0]})
    saver = FullPyTorchExperimentS3Saver("proj", "exp", "models", "", str(tmp_path))
    model_path, results_path = saver.save_experiment(
        MODEL, results, history, "ts", separate_files=True
    )
    assert model_path == "models/proj/exp_ts/model/model_exp_ts.pth"
    assert results_path == "models/proj/exp_ts/results/results_exp_ts.p"
    assert keys(bucket) == [
        "proj/exp_ts/model/model_exp_ts.pth",
        "proj/exp_ts/results/hyperparams_exp_ts.p",
        "proj/exp_ts/results/results_exp_ts.p",
        "proj/exp_ts/results/train_history_exp_ts.p",
    ]
    assert (tmp_path / "proj" / "exp_ts" / "results" / "results_exp_ts.p").is_file()


def test_folder_upload_and_option_names(tmp_path: Path, bucket: Any) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "f.txt").write_text("x")
    (tmp_path / "g.txt").write_text("y")
    BaseDataSaver("models").save_folder(str(tmp_path), "up")
    assert keys(bucket) == ["up/a/f.txt", "up/g.txt"]
    assert "s3" in s3_available_options


def test_keras_and_missing_boto3_are_refused(
    tmp_path: Path, bucket: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(ConfigError, match="Keras is not supported"):
        KerasS3ModelSaver("models", "", str(tmp_path)).save_model(object(), "p", "e", "ts")
    monkeypatch.setitem(sys.modules, "boto3", None)
    with pytest.raises(ConfigError, match="pip install boto3"):
        PyTorchS3ModelSaver("models")


def test_model_loader_downloads_then_loads_weights_only(tmp_path: Path, bucket: Any) -> None:
    import torch

    weights = {"w": torch.arange(4.0)}
    saver = PyTorchS3ModelSaver("models", "runs", str(tmp_path / "a"), checkpoint_model=True)
    saver.save_model({**MODEL, "model_state_dict": weights}, "proj", "exp", "ts", epoch=3)
    loader = PyTorchS3ModelLoader(str(tmp_path / "b"), "models", "runs")
    loaded = loader.load_model("proj", "exp", "ts", "checkpoint_model", epoch_num=3)
    assert torch.equal(loaded["model_state_dict"]["w"], weights["w"])
    local = tmp_path / "b" / "proj" / "exp_ts" / "checkpoint_model" / "model_exp_ts_E3.pth"
    assert local.is_file() and not list(local.parent.glob("*.download"))
    model = torch.nn.Linear(2, 2)
    with pytest.raises(RuntimeError):  # weights of another shape: torch's own message
        loader.init_model(model)
    with pytest.raises(ConfigTypeError, match="AbstractLocalModelLoader"):
        BaseModelLoader(object(), str(tmp_path), "models")  # type: ignore[arg-type]
