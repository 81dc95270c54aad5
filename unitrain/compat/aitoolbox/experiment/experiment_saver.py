"""``aitoolbox.experiment.experiment_saver``: the experiment saver interface and the
saver that combines a model saver with a results saver.

The S3 and Google Cloud Storage savers save locally, then upload with boto3 /
google-cloud-storage, imported when a saver is built (see :mod:`unitrain.compat.aitoolbox.cloud`).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

from unitrain.compat.aitoolbox.cloud.AWS.model_save import KerasS3ModelSaver, PyTorchS3ModelSaver
from unitrain.compat.aitoolbox.cloud.AWS.results_save import S3ResultsSaver
from unitrain.compat.aitoolbox.cloud.GoogleCloud.model_save import (
    KerasGoogleStorageModelSaver,
    PyTorchGoogleStorageModelSaver,
)
from unitrain.compat.aitoolbox.cloud.GoogleCloud.results_save import GoogleStorageResultsSaver
from unitrain.compat.aitoolbox.experiment.local_save.local_model_save import timestamp_now

__all__ = [
    "AbstractExperimentSaver",
    "BaseFullExperimentGoogleStorageSaver",
    "BaseFullExperimentS3Saver",
    "BaseFullExperimentSaver",
    "FullKerasExperimentGoogleStorageSaver",
    "FullKerasExperimentS3Saver",
    "FullPyTorchExperimentGoogleStorageSaver",
    "FullPyTorchExperimentS3Saver",
]


class AbstractExperimentSaver(ABC):
    """``save_experiment(model, result_package, training_history, ...)`` → saved paths."""

    @abstractmethod
    def save_experiment(
        self,
        model: Any,
        result_package: Any,
        training_history: Any,
        experiment_timestamp: str | None = None,
        save_true_pred_labels: bool = False,
        separate_files: bool = False,
        protect_existing_folder: bool = True,
    ) -> Any:
        """Save the model and its results; returns where they went."""


class BaseFullExperimentSaver(AbstractExperimentSaver):
    """A cloud model saver and a cloud results saver (``save_experiment_results(...,
    separate_files=...)``) used together; returns the model's and the main results file's
    paths in the bucket."""

    def __init__(
        self, model_saver: Any, results_saver: Any, project_name: str, experiment_name: str
    ) -> None:
        self.model_saver = model_saver
        self.results_saver = results_saver
        self.project_name = project_name
        self.experiment_name = experiment_name

    def save_experiment(
        self,
        model: Any,
        result_package: Any,
        training_history: Any,
        experiment_timestamp: str | None = None,
        save_true_pred_labels: bool = False,
        separate_files: bool = False,
        protect_existing_folder: bool = True,
    ) -> tuple[Any, Any]:
        timestamp = experiment_timestamp if experiment_timestamp is not None else timestamp_now()
        model_path = self.model_saver.save_model(
            model=model,
            project_name=self.project_name,
            experiment_name=self.experiment_name,
            experiment_timestamp=timestamp,
            protect_existing_folder=protect_existing_folder,
        )[0]
        results_path = self.results_saver.save_experiment_results(
            result_package=result_package,
            training_history=training_history,
            project_name=self.project_name,
            experiment_name=self.experiment_name,
            experiment_timestamp=timestamp,
            save_true_pred_labels=save_true_pred_labels,
            separate_files=separate_files,
            protect_existing_folder=protect_existing_folder,
        )[0]
        return model_path, results_path


class BaseFullExperimentS3Saver(BaseFullExperimentSaver):
    """``model_saver`` plus an :class:`S3ResultsSaver` on the same bucket and prefix."""

    def __init__(
        self,
        model_saver: Any,
        project_name: str,
        experiment_name: str,
        bucket_name: str = "model-result",
        cloud_dir_prefix: str = "",
        local_model_result_folder_path: str = "~/project/model_result",
    ) -> None:
        results_saver = S3ResultsSaver(
            bucket_name, cloud_dir_prefix, local_model_result_folder_path
        )
        super().__init__(model_saver, results_saver, project_name, experiment_name)


class FullPyTorchExperimentS3Saver(BaseFullExperimentS3Saver):
    """PyTorch model and results, saved locally and uploaded to S3."""

    def __init__(
        self,
        project_name: str,
        experiment_name: str,
        bucket_name: str = "model-result",
        cloud_dir_prefix: str = "",
        local_model_result_folder_path: str = "~/project/model_result",
    ) -> None:
        model_saver = PyTorchS3ModelSaver(
            bucket_name, cloud_dir_prefix, local_model_result_folder_path
        )
        super().__init__(
            model_saver,
            project_name,
            experiment_name,
            bucket_name,
            cloud_dir_prefix,
            local_model_result_folder_path,
        )


class FullKerasExperimentS3Saver(BaseFullExperimentS3Saver):
    """Keras is not supported: built for import compatibility, saving raises."""

    def __init__(
        self,
        project_name: str,
        experiment_name: str,
        bucket_name: str = "model-result",
        cloud_dir_prefix: str = "",
        local_model_result_folder_path: str = "~/project/model_result",
    ) -> None:
        model_saver = KerasS3ModelSaver(
            bucket_name, cloud_dir_prefix, local_model_result_folder_path
        )
        super().__init__(
            model_saver,
            project_name,
            experiment_name,
            bucket_name,
            cloud_dir_prefix,
            local_model_result_folder_path,
        )


class BaseFullExperimentGoogleStorageSaver(BaseFullExperimentSaver):
    """``model_saver`` plus a :class:`GoogleStorageResultsSaver` on the same bucket."""

    def __init__(
        self,
        model_saver: Any,
        project_name: str,
        experiment_name: str,
        bucket_name: str = "model-result",
        cloud_dir_prefix: str = "",
        local_model_result_folder_path: str = "~/project/model_result",
    ) -> None:
        results_saver = GoogleStorageResultsSaver(
            bucket_name, cloud_dir_prefix, local_model_result_folder_path
        )
        super().__init__(model_saver, results_saver, project_name, experiment_name)


class FullPyTorchExperimentGoogleStorageSaver(BaseFullExperimentGoogleStorageSaver):
    """PyTorch model and results, saved locally and uploaded to Google Cloud Storage."""

    def __init__(
        self,
        project_name: str,
        experiment_name: str,
        bucket_name: str = "model-result",
        cloud_dir_prefix: str = "",
        local_model_result_folder_path: str = "~/project/model_result",
    ) -> None:
        model_saver = PyTorchGoogleStorageModelSaver(
            bucket_name, cloud_dir_prefix, local_model_result_folder_path
        )
        super().__init__(
            model_saver,
            project_name,
            experiment_name,
            bucket_name,
            cloud_dir_prefix,
            local_model_result_folder_path,
        )


class FullKerasExperimentGoogleStorageSaver(BaseFullExperimentGoogleStorageSaver):
    """Keras is not supported: built for import compatibility, saving raises."""

    def __init__(
        self,
        project_name: str,
        experiment_name: str,
        bucket_name: str = "model-result",
        cloud_dir_prefix: str = "",
        local_model_result_folder_path: str = "~/project/model_result",
    ) -> None:
        model_saver = KerasGoogleStorageModelSaver(
            bucket_name, cloud_dir_prefix, local_model_result_folder_path
        )
        super().__init__(
            model_saver,
            project_name,
            experiment_name,
            bucket_name,
            cloud_dir_prefix,
            local_model_result_folder_path,
        )
