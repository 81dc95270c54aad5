"""Saving callbacks and tracking loops: local by default, best K kept, loadable files."""

from __future__ import annotations

import importlib.util
import json
import os
from pathlib import Path
from typing import Any

import pytest
import torch

from tests.compat.aitoolbox._tiny import make_batches, make_loop
from unitrain.compat.aitoolbox import (
    ClassificationResultPackage,
    FunctionOnTrainLoop,
    ModelCheckpoint,
    ModelIterationCheckpoint,
    ModelTrainEndSave,
    TrainLoopCheckpoint,
    TrainLoopCheckpointEndSave,
    TrainLoopEndSave,
)
from unitrain.errors import ConfigError

EXPERIMENT = {"project_name": "proj", "experiment_name": "exp"}


def _folder(loop: Any, root: Path) -> Path:
    return root / "proj" / f"exp_{loop.experiment_timestamp}"


def _scripted(values: list[float]) -> FunctionOnTrainLoop:
    return FunctionOnTrainLoop(
        lambda tl: tl.insert_metric_result_into_history("score_loss", values[tl.epoch]),
        epoch_end=True,
    )


def test_model_checkpoint_keeps_exactly_the_best_k(tmp_path: Path) -> None:
    checkpoint = ModelCheckpoint(
        **EXPERIMENT,
        local_model_result_folder_path=str(tmp_path),
        hyperparams={"lr": 0.1},
        rm_subopt_local_models="score_loss",
        num_best_checkpoints_kept=2,
    )
    loop = make_loop(val=None)
    loop.fit(num_epochs=5, callbacks=[checkpoint, _scripted([0.5, 0.3, 0.9, 0.1, 0.4])])
    folder = _folder(loop, tmp_path) / "checkpoint_model"
    stem = f"model_exp_{loop.experiment_timestamp}"
    assert sorted(os.listdir(folder)) == [f"{stem}_E1.pth", f"{stem}_E3.pth"]
    saved = torch.load(folder / f"{stem}_E3.pth", weights_only=True)
    assert set(saved) == {
        "model_state_dict",
        "optimizer_state_dict",
        "schedulers_state_dict",
        "epoch",
        "iteration_idx",
        "hyperparams",
        "amp",
    }
    assert (
        saved["epoch"] == 3 and saved["iteration_idx"] == 15 and saved["hyperparams"] == {"lr": 0.1}
    )
    assert (_folder(loop, tmp_path) / "hyperparams_list.txt").read_text() == "lr:\t0.1\n"
    assert checkpoint.execution_order == 100 and checkpoint.cloud_save_mode is None


def test_model_checkpoint_without_removal_keeps_all(tmp_path: Path) -> None:
    checkpoint = ModelCheckpoint(**EXPERIMENT, local_model_result_folder_path=str(tmp_path))
    loop = make_loop(val=None)
    loop.fit(num_epochs=3, callbacks=[checkpoint])
    assert len(os.listdir(_folder(loop, tmp_path) / "checkpoint_model")) == 3
    saved = torch.load(checkpoint.saved_paths[-1], weights_only=True)
    for name, tensor in loop.model.state_dict().items():
        assert torch.equal(saved["model_state_dict"][name], tensor)


def test_model_iteration_checkpoint(tmp_path: Path) -> None:
    checkpoint = ModelIterationCheckpoint(
        3, **EXPERIMENT, local_model_result_folder_path=str(tmp_path)
    )
    loop = make_loop(val=None)
    loop.fit(num_epochs=2, callbacks=[checkpoint])
    names = sorted(os.listdir(_folder(loop, tmp_path) / "checkpoint_model"))
    stem = f"model_exp_{loop.experiment_timestamp}"
    # aitoolbox's rule: every save_frequency-th iteration index but 0, named with its epoch
    assert names == sorted(
        [f"{stem}_E0_ITER3.pth", f"{stem}_E1_ITER6.pth", f"{stem}_E0.pth", f"{stem}_E1.pth"]
    )
    saved = torch.load(
        _folder(loop, tmp_path) / "checkpoint_model" / f"{stem}_E1_ITER6.pth", weights_only=True
    )
    assert (saved["epoch"], saved["iteration_idx"]) == (1, 6)
    # aitoolbox's argument positions: save_frequency, project, experiment, folder, hyperparams
    positional = ModelIterationCheckpoint(2, "p", "e", str(tmp_path), {"lr": 1})
    assert (positional.project_name, positional.hyperparams) == ("p", {"lr": 1})
    with pytest.raises(ConfigError, match="save_frequency"):
        ModelIterationCheckpoint(0, "p", "e", str(tmp_path), {})


def test_model_train_end_save(tmp_path: Path) -> None:
    save = ModelTrainEndSave(
        **EXPERIMENT,
        local_model_result_folder_path=str(tmp_path),
        hyperparams={"batch": 4},
        val_result_package=ClassificationResultPackage(),
        test_result_package=ClassificationResultPackage(),
    )
    loop = make_loop(test=make_batches(1, seed=5))
    loop.fit(num_epochs=2, callbacks=[save])
    folder = _folder(loop, tmp_path)
    stem = f"model_exp_{loop.experiment_timestamp}"
    assert (folder / "model" / f"{stem}.pth").is_file()
    summary = json.loads((folder / "results" / f"results_{stem}.json").read_text())
    assert set(summary["results"]) == {"val", "test"}
    assert 0.0 <= summary["results"]["val"]["Accuracy"] <= 1.0
    assert summary["train_history"]["val_loss"] == loop.train_history["val_loss"]
    labels = torch.load(folder / "results" / "predictions_test.pt", weights_only=True)
    assert labels["y_true"].shape == (4,) and save.execution_order == 101
    with pytest.raises(ConfigError, match="no test_loader"):
        make_loop().fit(
            num_epochs=1,
            callbacks=[
                ModelTrainEndSave(
                    **EXPERIMENT,
                    local_model_result_folder_path=str(tmp_path),
                    test_result_package=ClassificationResultPackage(),
                )
            ],
        )


def test_saving_needs_experiment_details() -> None:
    with pytest.raises(AttributeError, match="does not track an experiment"):
        make_loop().fit(num_epochs=1, callbacks=[ModelCheckpoint()])


def _tracking(loop_class: type, root: Path, **options: Any) -> Any:
    settings: dict[str, Any] = {
        "project_name": "proj",
        "experiment_name": "exp",
        "local_model_result_folder_path": str(root),
        "hyperparams": {"lr": 0.1},
    }
    settings.update(options)
    return make_loop(loop_class=loop_class, test=make_batches(1, seed=5), **settings)


def test_tracking_loops_save_locally_by_default(tmp_path: Path) -> None:
    loop = _tracking(
        TrainLoopCheckpointEndSave, tmp_path, val_result_package=ClassificationResultPackage()
    )
    loop.fit(num_epochs=2)
    folder = _folder(loop, tmp_path)
    assert loop.cloud_save_mode is None
    builder = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "_tiny.py")
    assert loop.hyperparams["experiment_file_path"] == builder  # the file that built the loop
    assert (folder / "_tiny.py").is_file()  # ... is copied into the experiment folder
    assert len(os.listdir(folder / "checkpoint_model")) == 2
    assert len(os.listdir(folder / "model")) == 1
    names = {type(cb).__name__ for cb in loop.callbacks}
    assert names == {"ModelCheckpoint", "ModelTrainEndSave"}
    loop.fit(num_epochs=3)  # the saving callbacks are added once
    assert len(loop.callbacks) == 2 and len(os.listdir(folder / "checkpoint_model")) == 3


def test_each_tracking_loop_registers_its_savers(tmp_path: Path) -> None:
    only_checkpoints = _tracking(TrainLoopCheckpoint, tmp_path / "a", iteration_save_freq=2)
    only_end = _tracking(
        TrainLoopEndSave, tmp_path / "b", test_result_package=ClassificationResultPackage()
    )
    assert [type(cb).__name__ for cb in only_checkpoints.tracking_callbacks()] == [
        "ModelIterationCheckpoint"
    ]
    assert [type(cb).__name__ for cb in only_end.tracking_callbacks()] == ["ModelTrainEndSave"]
    with pytest.raises(ConfigError, match="project_name"):
        _tracking(TrainLoopCheckpoint, tmp_path, project_name="")
    # as in aitoolbox the savers wait in the handler's cache until the first registration
    assert [type(cb).__name__ for cb in only_end.callbacks_handler.callbacks_cache] == [
        "ModelTrainEndSave"
    ]
    with pytest.raises(ConfigError, match="both val_result_package and test_result_package"):
        _tracking(TrainLoopEndSave, tmp_path / "c")
    with pytest.raises(TypeError, match="not an AbstractResultPackage"):
        _tracking(TrainLoopEndSave, tmp_path / "c", test_result_package=object())
    with pytest.raises(ConfigError, match="iteration_save_freq"):
        _tracking(TrainLoopCheckpoint, tmp_path / "c", iteration_save_freq=-1)


def test_upload_goes_through_fsspec_urls(tmp_path: Path) -> None:
    fsspec = pytest.importorskip("fsspec")
    memory = fsspec.filesystem("memory")
    checkpoint = ModelCheckpoint(
        **EXPERIMENT,
        local_model_result_folder_path=str(tmp_path),
        cloud_save_mode="memory",
        bucket_name="bucket",
        cloud_dir_prefix="runs",
    )
    loop = make_loop(val=None)
    try:
        loop.fit(num_epochs=1, callbacks=[checkpoint])
        url = (
            f"memory://bucket/runs/exp_{loop.experiment_timestamp}/checkpoint_model/"
            f"model_exp_{loop.experiment_timestamp}_E0.pth"
        )
        with fsspec.open(url, "rb") as handle:
            uploaded = torch.load(handle, weights_only=True)
        assert uploaded["epoch"] == 0
        assert memory.exists(
            f"memory://bucket/runs/exp_{loop.experiment_timestamp}/hyperparams_list.txt"
        )
    finally:
        memory.rm("/bucket", recursive=True)


@pytest.mark.skipif(importlib.util.find_spec("s3fs") is None, reason="s3fs (cloud extra) missing")
def test_s3_upload_against_a_local_moto_server(tmp_path: Path) -> None:
    moto_server = pytest.importorskip("moto.server")
    boto3 = pytest.importorskip("boto3")
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=0)
    server.start()
    try:
        host, port = server.get_host_and_port()
        endpoint = f"http://{host}:{port}"
        boto3.client(
            "s3",
            endpoint_url=endpoint,
            region_name="us-east-1",
            aws_access_key_id="test",
            aws_secret_access_key="test",
        ).create_bucket(Bucket="models")
        checkpoint = ModelCheckpoint(
            **EXPERIMENT,
            local_model_result_folder_path=str(tmp_path),
            cloud_save_mode="s3",
            bucket_name="models",
        )
        checkpoint.storage_options = {
            "key": "test",
            "secret": "test",
            "client_kwargs": {"endpoint_url": endpoint},
        }
        loop = make_loop(val=None)
        loop.fit(num_epochs=1, callbacks=[checkpoint])
        client = boto3.client(
            "s3",
            endpoint_url=endpoint,
            region_name="us-east-1",
            aws_access_key_id="test",
            aws_secret_access_key="test",
        )
        listing = client.list_objects(Bucket="models")
        assert any(o["Key"].endswith("_E0.pth") for o in listing.get("Contents", []))
    finally:
        server.stop()
