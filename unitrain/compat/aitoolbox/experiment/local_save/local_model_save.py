"""``aitoolbox.experiment.local_save.local_model_save``: model files in the experiment
folder, and removal of checkpoints that stopped being among the best.

Files are written to a temporary name and renamed into place, so a crash never leaves half
a model file. Keras is not supported: :class:`KerasLocalModelSaver` exists so that code
naming it imports, and refuses when asked to save.
"""

from __future__ import annotations

import datetime
import os
import time
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from typing import Any

from unitrain.compat.aitoolbox.experiment.local_save.folder_create import ExperimentFolder
from unitrain.compat.aitoolbox.experiment.storage import atomic_save
from unitrain.errors import ConfigError

# aitoolbox's module had no __all__, so ``from ... import *`` also handed out the modules it
# imported; code written against it uses ``time`` / ``datetime`` / ``os`` from there.
__all__ = [
    "datetime",
    "os",
    "time",
    "AbstractLocalModelSaver",
    "BaseLocalModelSaver",
    "KerasLocalModelSaver",
    "LocalSubOptimalModelRemover",
    "PyTorchLocalModelSaver",
    "keras_not_supported",
    "timestamp_now",
]

REQUIRED_KEYS = ("model_state_dict", "optimizer_state_dict", "epoch", "hyperparams")


def timestamp_now() -> str:
    """aitoolbox's experiment timestamp format, ``YYYY-MM-DD_HH-MM-SS`` (local time)."""
    return datetime.datetime.fromtimestamp(time.time()).strftime("%Y-%m-%d_%H-%M-%S")


def keras_not_supported(who: str) -> ConfigError:
    """The error every Keras saver raises when asked to save."""
    return ConfigError(
        f"{who}: Keras is not supported by unitrain.compat.aitoolbox (it adapts aitoolbox's "
        "PyTorch side only); save PyTorch models with PyTorchLocalModelSaver, or keep the "
        "real aitoolbox for Keras experiments"
    )


def model_file_name(
    experiment_name: str,
    experiment_timestamp: str,
    epoch: int | None,
    iteration_idx: int | None,
    extension: str,
) -> str:
    """``model_<experiment>_<timestamp>[_E<epoch>[_ITER<iteration>]]<extension>``."""
    if epoch is None:
        return f"model_{experiment_name}_{experiment_timestamp}{extension}"
    iteration = f"_ITER{iteration_idx}" if iteration_idx is not None else ""
    return f"model_{experiment_name}_{experiment_timestamp}_E{epoch}{iteration}{extension}"


class AbstractLocalModelSaver(ABC):
    """The saving interface: ``save_model(...)`` → ``(model file name, local path)``."""

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
    ) -> tuple[str, str]:
        """Save ``model``; returns its file name and local path."""


class BaseLocalModelSaver:
    """Creates ``<experiment folder>/model`` (or ``checkpoint_model`` for checkpoints)."""

    def __init__(
        self,
        local_model_result_folder_path: str = "~/project/model_result",
        checkpoint_model: bool = False,
    ) -> None:
        self.local_model_result_folder_path = os.path.expanduser(local_model_result_folder_path)
        self.checkpoint_model = checkpoint_model

    def create_experiment_local_models_folder(
        self, project_name: str, experiment_name: str, experiment_timestamp: str
    ) -> str:
        """Create the experiment folder and its model folder; the latter's path."""
        experiment = ExperimentFolder.create_base_folder(
            project_name, experiment_name, experiment_timestamp, self.local_model_result_folder_path
        )
        folder = os.path.join(experiment, "checkpoint_model" if self.checkpoint_model else "model")
        os.makedirs(folder, exist_ok=True)
        return folder


class PyTorchLocalModelSaver(AbstractLocalModelSaver, BaseLocalModelSaver):
    """Saves aitoolbox's model dict (``model_state_dict``, ``optimizer_state_dict``,
    ``epoch``, ``hyperparams``, ...) with ``torch.save`` as a ``.pth`` file."""

    def save_model(
        self,
        model: Any,
        project_name: str,
        experiment_name: str,
        experiment_timestamp: str | None = None,
        epoch: int | None = None,
        iteration_idx: int | None = None,
        protect_existing_folder: bool = True,
    ) -> tuple[str, str]:
        self.check_model_dict_contents(model)
        timestamp = experiment_timestamp if experiment_timestamp is not None else timestamp_now()
        folder = self.create_experiment_local_models_folder(
            project_name, experiment_name, timestamp
        )
        name = model_file_name(experiment_name, timestamp, epoch, iteration_idx, ".pth")
        return name, atomic_save(model, os.path.join(folder, name))

    @staticmethod
    def check_model_dict_contents(model: Any) -> None:
        """Refuse a model dict that lacks what resuming training needs."""
        if not isinstance(model, Mapping):
            raise ConfigError(
                f"PyTorchLocalModelSaver: the model must be a dict with {list(REQUIRED_KEYS)}, "
                f"got {type(model).__name__}"
            )
        missing = [key for key in REQUIRED_KEYS if key not in model]
        if missing:
            raise ConfigError(
                f"PyTorchLocalModelSaver: the model dict lacks {missing} (it has "
                f"{list(model)}); it needs {list(REQUIRED_KEYS)}"
            )


class KerasLocalModelSaver(AbstractLocalModelSaver, BaseLocalModelSaver):
    """Keras is not supported by unitrain: constructing works (the folder settings are
    kept), saving raises a :class:`~unitrain.errors.ConfigError`."""

    def save_model(
        self,
        model: Any,
        project_name: str,
        experiment_name: str,
        experiment_timestamp: str | None = None,
        epoch: int | None = None,
        iteration_idx: int | None = None,
        protect_existing_folder: bool = True,
    ) -> tuple[str, str]:
        raise keras_not_supported("KerasLocalModelSaver")


class LocalSubOptimalModelRemover:
    """Keeps the files of the ``num_best_kept`` best saved models and deletes the others.

    A metric with ``loss`` in its name is better when lower. For ``loss``,
    ``accumulated_loss`` and ``val_loss`` (known when the model is saved) the new files are
    ranked at once; for any other metric the files wait one call, until the history holds
    the value computed for them.
    """

    def __init__(self, metric_name: str, num_best_kept: int = 2) -> None:
        if num_best_kept < 1:
            raise ConfigError(
                f"LocalSubOptimalModelRemover(num_best_kept={num_best_kept}): keep at least 1"
            )
        self.metric_name = metric_name
        self.decrease_metric = "loss" in metric_name
        self.num_best_kept = num_best_kept
        self.default_metrics_list = ["loss", "accumulated_loss", "val_loss"]
        self.is_default_metric = metric_name in self.default_metrics_list
        self.non_default_metric_buffer: list[str] | None = None
        self.model_save_history: list[tuple[list[str], Any]] = []

    def decide_if_remove_suboptimal_model(
        self, history: Any, new_model_dump_paths: Sequence[str]
    ) -> None:
        """Track ``new_model_dump_paths``; delete the worst tracked files beyond the kept number."""
        paths = (
            list(new_model_dump_paths)
            if not isinstance(new_model_dump_paths, list)
            else new_model_dump_paths
        )
        if self.is_default_metric:
            self.model_save_history.append((paths, history[self.metric_name][-1]))
        else:
            if self.non_default_metric_buffer is not None:
                if self.metric_name in history and len(history[self.metric_name]):
                    self.model_save_history.append(
                        (self.non_default_metric_buffer, history[self.metric_name][-1])
                    )
                else:
                    print(
                        f"LocalSubOptimalModelRemover: metric {self.metric_name!r} is not in the "
                        f"history ({list(history.keys())}); no model file is removed"
                    )
            self.non_default_metric_buffer = paths
        if len(self.model_save_history) > self.num_best_kept:
            self.model_save_history.sort(
                key=lambda entry: entry[1], reverse=not self.decrease_metric
            )
            worst, _ = self.model_save_history.pop()
            print(f"Removing suboptimal models: {worst}")
            self.rm_suboptimal_model(worst)

    @staticmethod
    def rm_suboptimal_model(rm_model_paths: Sequence[str]) -> None:
        """Delete the given model files (already missing ones are skipped)."""
        for path in rm_model_paths:
            if os.path.exists(path):
                os.remove(path)
