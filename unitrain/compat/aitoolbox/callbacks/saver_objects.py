"""The aitoolbox saver objects the saving callbacks build at train-loop registration.

aitoolbox picked the saver class from ``cloud_save_mode``: ``'s3'`` / ``'aws_s3'`` /
``'aws'`` → the S3 savers, ``'gcs'`` / ``'google_storage'`` / ``'google storage'`` → the
Google Cloud Storage savers, anything else → the local savers. The callbacks keep that
choice (``model_checkpointer`` / ``results_saver`` have aitoolbox's classes) and write every
file through the saver's local half; uploading stays with :func:`..experiment.upload`
(fsspec, so ``storage_options`` and any fsspec scheme keep working).
"""

from __future__ import annotations

from typing import Any

from unitrain.compat.aitoolbox.cloud.AWS.model_save import PyTorchS3ModelSaver
from unitrain.compat.aitoolbox.cloud.GoogleCloud.model_save import PyTorchGoogleStorageModelSaver
from unitrain.compat.aitoolbox.experiment.experiment_saver import (
    FullPyTorchExperimentGoogleStorageSaver,
    FullPyTorchExperimentS3Saver,
)
from unitrain.compat.aitoolbox.experiment.local_experiment_saver import (
    FullPyTorchExperimentLocalSaver,
)
from unitrain.compat.aitoolbox.experiment.local_save.local_model_save import (
    PyTorchLocalModelSaver,
)

__all__ = ["S3_MODES", "GCS_MODES", "local_model_saver", "make_model_saver", "make_results_saver"]

S3_MODES = ("s3", "aws_s3", "aws")
GCS_MODES = ("gcs", "google_storage", "google storage")


def make_model_saver(callback: Any, checkpoint_model: bool = True) -> Any:
    """aitoolbox's model saver for ``callback.cloud_save_mode`` (checkpoint folder by default)."""
    local = str(callback.local_model_result_folder_path)
    cloud = (callback.bucket_name or "model-result", callback.cloud_dir_prefix or "", local)
    if callback.cloud_save_mode in S3_MODES:
        return PyTorchS3ModelSaver(*cloud, checkpoint_model=checkpoint_model)
    if callback.cloud_save_mode in GCS_MODES:
        return PyTorchGoogleStorageModelSaver(*cloud, checkpoint_model=checkpoint_model)
    return PyTorchLocalModelSaver(local, checkpoint_model=checkpoint_model)


def make_results_saver(callback: Any) -> Any:
    """aitoolbox's full experiment saver (model + results) for ``callback.cloud_save_mode``."""
    names = (str(callback.project_name), str(callback.experiment_name))
    local = str(callback.local_model_result_folder_path)
    cloud = {
        "bucket_name": callback.bucket_name or "model-result",
        "cloud_dir_prefix": callback.cloud_dir_prefix or "",
        "local_model_result_folder_path": local,
    }
    if callback.cloud_save_mode in S3_MODES:
        return FullPyTorchExperimentS3Saver(*names, **cloud)
    if callback.cloud_save_mode in GCS_MODES:
        return FullPyTorchExperimentGoogleStorageSaver(*names, **cloud)
    return FullPyTorchExperimentLocalSaver(*names, local_model_result_folder_path=local)


def local_model_saver(model_saver: Any) -> PyTorchLocalModelSaver:
    """The saver that writes the local file: the saver itself, or a cloud saver's local half."""
    if isinstance(model_saver, PyTorchLocalModelSaver):
        return model_saver
    local = getattr(model_saver, "pytorch_local_saver", None)
    if not isinstance(local, PyTorchLocalModelSaver):
        raise TypeError(
            f"{type(model_saver).__name__} is not a PyTorch model saver (it has no local "
            "PyTorchLocalModelSaver); use PyTorchLocalModelSaver / PyTorchS3ModelSaver / "
            "PyTorchGoogleStorageModelSaver"
        )
    return local
