"""``aitoolbox.experiment.local_save.local_results_save``: an experiment's results,
hyperparameters and training history in ``<experiment folder>/results``.

Files are pickle (aitoolbox's default, ``.p``) or JSON (``.json``). unitrain only writes
these pickles; it never reads one back (reading an untrusted pickle can run code). For
results meant to be read by programs prefer ``file_format="json"``. Numpy arrays and
tensors are written as lists in JSON.
"""

from __future__ import annotations

import json
import os
import pickle
from abc import ABC, abstractmethod
from typing import Any

from unitrain.compat.aitoolbox.experiment.local_save.folder_create import ExperimentFolder
from unitrain.compat.aitoolbox.experiment.local_save.local_model_save import timestamp_now
from unitrain.compat.aitoolbox.experiment.result_reporting.report_generator import (
    TrainingHistoryPlotter,
)
from unitrain.errors import ConfigError

__all__ = ["AbstractLocalResultsSaver", "BaseLocalResultsSaver", "LocalResultsSaver"]

FORMATS = {"pickle": ".p", "json": ".json"}


def _json_default(value: Any) -> Any:
    # numpy arrays / scalars and tensors: their plain-Python form.
    if hasattr(value, "tolist"):
        return value.tolist()
    raise TypeError(f"{type(value).__name__} cannot be written as JSON; use file_format='pickle'")


class AbstractLocalResultsSaver(ABC):
    """The interface: save into one file or into separate files; both return
    ``[[file name, local path], ...]``, the main results file first."""

    @abstractmethod
    def save_experiment_results(
        self,
        result_package: Any,
        training_history: Any,
        project_name: str,
        experiment_name: str,
        experiment_timestamp: str | None = None,
        save_true_pred_labels: bool = False,
        protect_existing_folder: bool = True,
    ) -> list[list[str]]:
        """Everything in one file."""

    @abstractmethod
    def save_experiment_results_separate_files(
        self,
        result_package: Any,
        training_history: Any,
        project_name: str,
        experiment_name: str,
        experiment_timestamp: str | None = None,
        save_true_pred_labels: bool = False,
        protect_existing_folder: bool = True,
    ) -> list[list[str]]:
        """Results, hyperparameters, history (and labels) in separate files."""


class BaseLocalResultsSaver:
    """The results folder and the file writer. An unknown ``file_format`` falls back to
    pickle with a printed note, as in aitoolbox."""

    def __init__(
        self,
        local_model_result_folder_path: str = "~/project/model_result",
        file_format: str = "pickle",
    ) -> None:
        self.local_model_result_folder_path = os.path.expanduser(local_model_result_folder_path)
        self.file_format = file_format
        if file_format not in FORMATS:
            print(f"Results file format {file_format!r} is not 'pickle' or 'json'; using 'pickle'")
            self.file_format = "pickle"

    def create_experiment_local_folder_structure(
        self, project_name: str, experiment_name: str, experiment_timestamp: str
    ) -> str:
        """Create the experiment's results folder; its path."""
        return self.create_experiment_local_results_folder(
            project_name, experiment_name, experiment_timestamp, self.local_model_result_folder_path
        )

    @staticmethod
    def create_experiment_local_results_folder(
        project_name: str,
        experiment_name: str,
        experiment_timestamp: str,
        local_model_result_folder_path: str,
    ) -> str:
        """Create ``<root>/<project>/<experiment>_<timestamp>/results``; its path."""
        ExperimentFolder.create_base_folder(
            project_name, experiment_name, experiment_timestamp, local_model_result_folder_path
        )
        _, _, results = BaseLocalResultsSaver.get_experiment_local_results_folder_paths(
            project_name, experiment_name, experiment_timestamp, local_model_result_folder_path
        )
        os.makedirs(results, exist_ok=True)
        return results

    @staticmethod
    def get_experiment_local_results_folder_paths(
        project_name: str,
        experiment_name: str,
        experiment_timestamp: str,
        local_model_result_folder_path: str,
    ) -> tuple[str, str, str]:
        """``(project folder, experiment folder, results folder)``; nothing is created."""
        project, experiment = ExperimentFolder.get_base_folder_paths(
            project_name, experiment_name, experiment_timestamp, local_model_result_folder_path
        )
        return project, experiment, os.path.join(experiment, "results")

    def save_file(
        self, result_dict: Any, file_name_w_type: str, file_local_path_w_type: str
    ) -> tuple[str, str]:
        """Write ``result_dict`` to the path plus the format's extension; ``(name, path)``."""
        extension = FORMATS.get(self.file_format)
        if extension is None:
            raise ConfigError(
                f"results file_format {self.file_format!r} is not supported; use 'pickle' or 'json'"
            )
        path = file_local_path_w_type + extension
        temporary = path + ".tmp"
        if self.file_format == "pickle":
            with open(temporary, "wb") as handle:
                pickle.dump(result_dict, handle)
        else:
            with open(temporary, "w") as handle:
                json.dump(result_dict, handle, sort_keys=True, indent=4, default=_json_default)
        os.replace(temporary, path)
        return file_name_w_type + extension, path


class LocalResultsSaver(AbstractLocalResultsSaver, BaseLocalResultsSaver):
    """Saves a prepared result package with the training history (plus history plots)."""

    def _prepare(
        self,
        result_package: Any,
        training_history: Any,
        project_name: str,
        experiment_name: str,
        timestamp: str,
    ) -> tuple[str, list[list[str]]]:
        folder = self.create_experiment_local_folder_structure(
            project_name, experiment_name, timestamp
        )
        extra = list(result_package.get_additional_results_dump_paths() or [])
        plots = TrainingHistoryPlotter(folder).generate_report(
            training_history, plots_folder_name="plots"
        )
        return folder, extra + plots

    def save_experiment_results(
        self,
        result_package: Any,
        training_history: Any,
        project_name: str,
        experiment_name: str,
        experiment_timestamp: str | None = None,
        save_true_pred_labels: bool = False,
        protect_existing_folder: bool = True,
    ) -> list[list[str]]:
        timestamp = experiment_timestamp if experiment_timestamp is not None else timestamp_now()
        results = result_package.get_results()
        hyperparameters = result_package.get_hyperparameters()
        folder, extra = self._prepare(
            result_package, training_history, project_name, experiment_name, timestamp
        )
        content: dict[str, Any] = {
            "experiment_name": experiment_name,
            "experiment_results_local_path": folder,
            "results": results,
            "hyperparameters": hyperparameters,
            "training_history": training_history.get_train_history(),
        }
        if save_true_pred_labels:
            content = {
                "y_true": result_package.y_true,
                "y_predicted": result_package.y_predicted,
                **content,
            }
        stem = f"results_hyperParams_hist_{experiment_name}_{timestamp}"
        return [list(self.save_file(content, stem, os.path.join(folder, stem))), *extra]

    def save_experiment_results_separate_files(
        self,
        result_package: Any,
        training_history: Any,
        project_name: str,
        experiment_name: str,
        experiment_timestamp: str | None = None,
        save_true_pred_labels: bool = False,
        protect_existing_folder: bool = True,
    ) -> list[list[str]]:
        timestamp = experiment_timestamp if experiment_timestamp is not None else timestamp_now()
        results = result_package.get_results()
        hyperparameters = result_package.get_hyperparameters()
        folder, extra = self._prepare(
            result_package, training_history, project_name, experiment_name, timestamp
        )
        header = {"experiment_name": experiment_name, "experiment_results_local_path": folder}
        files: list[tuple[str, dict[str, Any]]] = [
            ("results", {**header, "results": results}),
            ("hyperparams", {**header, "hyperparameters": hyperparameters}),
            ("train_history", {**header, "training_history": training_history.get_train_history()}),
        ]
        if save_true_pred_labels:
            labels = {"y_true": result_package.y_true, "y_predicted": result_package.y_predicted}
            files.append(("true_pred_labels", labels))
        saved = []
        for prefix, content in files:
            stem = f"{prefix}_{experiment_name}_{timestamp}"
            saved.append(list(self.save_file(content, stem, os.path.join(folder, stem))))
        return saved + extra
