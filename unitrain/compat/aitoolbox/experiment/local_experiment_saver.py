"""``aitoolbox.experiment.local_experiment_saver``: model file plus results files in the
local experiment folder, in one call."""

from __future__ import annotations

import datetime
import time
from typing import Any

from unitrain.compat.aitoolbox.experiment.experiment_saver import AbstractExperimentSaver
from unitrain.compat.aitoolbox.experiment.local_save.local_model_save import (
    AbstractLocalModelSaver,
    KerasLocalModelSaver,
    PyTorchLocalModelSaver,
    timestamp_now,
)
from unitrain.compat.aitoolbox.experiment.local_save.local_results_save import LocalResultsSaver
from unitrain.errors import ConfigTypeError

# aitoolbox's module had no __all__, so ``from ... import *`` also handed out what it
# imported (the savers, ``datetime``, ``time``); code written against it uses them.
__all__ = [
    "AbstractExperimentSaver",
    "AbstractLocalModelSaver",
    "KerasLocalModelSaver",
    "LocalResultsSaver",
    "PyTorchLocalModelSaver",
    "datetime",
    "time",
    "BaseFullExperimentLocalSaver",
    "FullKerasExperimentLocalSaver",
    "FullPyTorchExperimentLocalSaver",
]


class BaseFullExperimentLocalSaver(AbstractExperimentSaver):
    """Saves with ``model_saver`` and a :class:`LocalResultsSaver` (pickle files)."""

    def __init__(
        self,
        model_saver: AbstractLocalModelSaver,
        project_name: str,
        experiment_name: str,
        local_model_result_folder_path: str = "~/project/model_result",
    ) -> None:
        if not isinstance(model_saver, AbstractLocalModelSaver):
            raise ConfigTypeError(
                f"model_saver must be an AbstractLocalModelSaver (e.g. PyTorchLocalModelSaver), "
                f"got {type(model_saver).__name__}"
            )
        self.project_name = project_name
        self.experiment_name = experiment_name
        self.model_saver = model_saver
        self.results_saver = LocalResultsSaver(local_model_result_folder_path)

    def save_experiment(
        self,
        model: Any,
        result_package: Any,
        training_history: Any,
        experiment_timestamp: str | None = None,
        save_true_pred_labels: bool = False,
        separate_files: bool = False,
        protect_existing_folder: bool = True,
    ) -> list[str]:
        """The model file's path followed by every results file's path."""
        timestamp = experiment_timestamp if experiment_timestamp is not None else timestamp_now()
        _, model_path = self.model_saver.save_model(
            model=model,
            project_name=self.project_name,
            experiment_name=self.experiment_name,
            experiment_timestamp=timestamp,
            protect_existing_folder=protect_existing_folder,
        )
        save = (
            self.results_saver.save_experiment_results_separate_files
            if separate_files
            else self.results_saver.save_experiment_results
        )
        saved = save(
            result_package=result_package,
            training_history=training_history,
            project_name=self.project_name,
            experiment_name=self.experiment_name,
            experiment_timestamp=timestamp,
            save_true_pred_labels=save_true_pred_labels,
            protect_existing_folder=protect_existing_folder,
        )
        return [model_path, *(path for _, path in saved)]


class FullPyTorchExperimentLocalSaver(BaseFullExperimentLocalSaver):
    """PyTorch model dict as ``.pth`` plus the results files."""

    def __init__(
        self,
        project_name: str,
        experiment_name: str,
        local_model_result_folder_path: str = "~/project/model_result",
    ) -> None:
        super().__init__(
            PyTorchLocalModelSaver(local_model_result_folder_path),
            project_name,
            experiment_name,
            local_model_result_folder_path,
        )


class FullKerasExperimentLocalSaver(BaseFullExperimentLocalSaver):
    """Keras is not supported: built for import compatibility, saving raises (see
    :class:`~unitrain.compat.aitoolbox.experiment.local_save.local_model_save.KerasLocalModelSaver`)."""

    def __init__(
        self,
        project_name: str,
        experiment_name: str,
        local_model_result_folder_path: str = "~/project/model_result",
    ) -> None:
        super().__init__(
            KerasLocalModelSaver(local_model_result_folder_path),
            project_name,
            experiment_name,
            local_model_result_folder_path,
        )
