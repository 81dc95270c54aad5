"""``aitoolbox.cloud.AWS.model_save``: save a model locally, then upload it to S3."""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from typing import Any

from unitrain.compat.aitoolbox.cloud.AWS.data_access import BaseDataSaver
from unitrain.compat.aitoolbox.experiment.local_save.local_model_save import (
    KerasLocalModelSaver,
    PyTorchLocalModelSaver,
    keras_not_supported,
    timestamp_now,
)

__all__ = ["AbstractModelSaver", "BaseModelSaver", "KerasS3ModelSaver", "PyTorchS3ModelSaver"]


class AbstractModelSaver(ABC):
    """``save_model(...)`` → ``(bucket path, experiment timestamp, local path)``."""

    @abstractmethod
    def save_model(
        self,
        model: Any,
        project_name: str,
        experiment_name: str,
        experiment_timestamp: str | None = None,
        epoch: int | None = None,
        iteration_idx: int | None = None,
        protect_existing_folder: bool = True,
    ) -> tuple[str, str, str]:
        """Save ``model`` locally and in the bucket."""


class BaseModelSaver(BaseDataSaver):
    """Keys models as ``<prefix>/<project>/<experiment>_<timestamp>/<model|checkpoint_model>``."""

    def __init__(
        self,
        bucket_name: str = "model-result",
        cloud_dir_prefix: str = "",
        checkpoint_model: bool = False,
    ) -> None:
        super().__init__(bucket_name)
        self.cloud_dir_prefix = cloud_dir_prefix
        self.checkpoint_model = checkpoint_model

    def create_experiment_cloud_storage_folder_structure(
        self, project_name: str, experiment_name: str, experiment_timestamp: str
    ) -> str:
        """The model folder's key prefix inside the bucket."""
        folder = "checkpoint_model" if self.checkpoint_model else "model"
        return os.path.join(
            self.cloud_dir_prefix, project_name, f"{experiment_name}_{experiment_timestamp}", folder
        )


class PyTorchS3ModelSaver(AbstractModelSaver, BaseModelSaver):
    """A :class:`PyTorchLocalModelSaver` whose file is then uploaded to S3."""

    def __init__(
        self,
        bucket_name: str = "model-result",
        cloud_dir_prefix: str = "",
        local_model_result_folder_path: str = "~/project/model_result",
        checkpoint_model: bool = False,
    ) -> None:
        BaseModelSaver.__init__(self, bucket_name, cloud_dir_prefix, checkpoint_model)
        self.pytorch_local_saver = PyTorchLocalModelSaver(
            local_model_result_folder_path, checkpoint_model
        )

    def save_model(
        self,
        model: Any,
        project_name: str,
        experiment_name: str,
        experiment_timestamp: str | None = None,
        epoch: int | None = None,
        iteration_idx: int | None = None,
        protect_existing_folder: bool = True,
    ) -> tuple[str, str, str]:
        PyTorchLocalModelSaver.check_model_dict_contents(model)
        timestamp = experiment_timestamp if experiment_timestamp is not None else timestamp_now()
        name, local_path = self.pytorch_local_saver.save_model(
            model,
            project_name,
            experiment_name,
            timestamp,
            epoch,
            iteration_idx,
            protect_existing_folder,
        )
        key = os.path.join(
            self.create_experiment_cloud_storage_folder_structure(
                project_name, experiment_name, timestamp
            ),
            name,
        )
        self.save_file(local_file_path=local_path, cloud_file_path=key)
        return os.path.join(self.bucket_name, key), timestamp, local_path


class KerasS3ModelSaver(AbstractModelSaver, BaseModelSaver):
    """Keras is not supported: built for import compatibility, saving raises."""

    def __init__(
        self,
        bucket_name: str = "model-result",
        cloud_dir_prefix: str = "",
        local_model_result_folder_path: str = "~/project/model_result",
        checkpoint_model: bool = False,
    ) -> None:
        BaseModelSaver.__init__(self, bucket_name, cloud_dir_prefix, checkpoint_model)
        self.keras_local_saver = KerasLocalModelSaver(
            local_model_result_folder_path, checkpoint_model
        )

    def save_model(
        self,
        model: Any,
        project_name: str,
        experiment_name: str,
        experiment_timestamp: str | None = None,
        epoch: int | None = None,
        iteration_idx: int | None = None,
        protect_existing_folder: bool = True,
    ) -> tuple[str, str, str]:
        raise keras_not_supported("KerasS3ModelSaver")
