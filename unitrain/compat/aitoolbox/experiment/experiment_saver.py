"""``aitoolbox.experiment.experiment_saver``: the experiment saver interface and the
saver that combines a model saver with a results saver.

aitoolbox's S3 / Google Storage savers are not here: unitrain uploads through fsspec
(``cloud_save_mode`` of the tracking callbacks) instead.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

from unitrain.compat.aitoolbox.experiment.local_save.local_model_save import timestamp_now

__all__ = ["AbstractExperimentSaver", "BaseFullExperimentSaver"]


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
    """A model saver and a results saver used together; returns their first paths."""

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
        save = (
            self.results_saver.save_experiment_results_separate_files
            if separate_files
            else self.results_saver.save_experiment_results
        )
        results_path = save(
            result_package=result_package,
            training_history=training_history,
            project_name=self.project_name,
            experiment_name=self.experiment_name,
            experiment_timestamp=timestamp,
            save_true_pred_labels=save_true_pred_labels,
            protect_existing_folder=protect_existing_folder,
        )[0]
        return model_path, results_path
