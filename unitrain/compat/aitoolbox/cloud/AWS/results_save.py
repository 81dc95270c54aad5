"""``aitoolbox.cloud.AWS.results_save``: save results locally, then upload them to S3."""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from typing import Any

from unitrain.compat.aitoolbox.cloud.AWS.data_access import BaseDataSaver
from unitrain.compat.aitoolbox.experiment.local_save.local_model_save import timestamp_now
from unitrain.compat.aitoolbox.experiment.local_save.local_results_save import LocalResultsSaver

__all__ = ["AbstractResultsSaver", "BaseResultsSaver", "S3ResultsSaver"]


class AbstractResultsSaver(ABC):
    """``save_experiment_results(...)`` → ``(bucket path of the main file, timestamp)``."""

    @abstractmethod
    def save_experiment_results(
        self,
        result_package: Any,
        training_history: Any,
        project_name: str,
        experiment_name: str,
        experiment_timestamp: str | None = None,
        save_true_pred_labels: bool = False,
        separate_files: bool = False,
        protect_existing_folder: bool = True,
    ) -> tuple[str, str]:
        """Save the results locally and in the bucket."""


class BaseResultsSaver(BaseDataSaver):
    """Keys results as ``<prefix>/<project>/<experiment>_<timestamp>/results``."""

    def __init__(self, bucket_name: str = "model-result", cloud_dir_prefix: str = "") -> None:
        super().__init__(bucket_name)
        self.cloud_dir_prefix = cloud_dir_prefix

    def create_experiment_cloud_storage_folder_structure(
        self, project_name: str, experiment_name: str, experiment_timestamp: str
    ) -> str:
        """The results folder's key prefix inside the bucket."""
        return os.path.join(
            self.cloud_dir_prefix,
            project_name,
            f"{experiment_name}_{experiment_timestamp}",
            "results",
        )


class S3ResultsSaver(AbstractResultsSaver, BaseResultsSaver):
    """A :class:`LocalResultsSaver` whose files are then uploaded to S3."""

    def __init__(
        self,
        bucket_name: str = "model-result",
        cloud_dir_prefix: str = "",
        local_model_result_folder_path: str = "~/project/model_result",
    ) -> None:
        BaseResultsSaver.__init__(self, bucket_name, cloud_dir_prefix)
        self.local_results_saver = LocalResultsSaver(local_model_result_folder_path)

    def save_experiment_results(
        self,
        result_package: Any,
        training_history: Any,
        project_name: str,
        experiment_name: str,
        experiment_timestamp: str | None = None,
        save_true_pred_labels: bool = False,
        separate_files: bool = False,
        protect_existing_folder: bool = True,
    ) -> tuple[str, str]:
        timestamp = experiment_timestamp if experiment_timestamp is not None else timestamp_now()
        local = self.local_results_saver
        save = (
            local.save_experiment_results_separate_files
            if separate_files
            else local.save_experiment_results
        )
        saved = save(
            result_package,
            training_history,
            project_name,
            experiment_name,
            timestamp,
            save_true_pred_labels,
            protect_existing_folder,
        )
        folder = self.create_experiment_cloud_storage_folder_structure(
            project_name, experiment_name, timestamp
        )
        for inner_path, local_path in saved:
            self.save_file(
                local_file_path=local_path, cloud_file_path=os.path.join(folder, inner_path)
            )
        return os.path.join(self.bucket_name, folder, saved[0][0]), timestamp
