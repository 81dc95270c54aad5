"""Saving callbacks: per-epoch checkpoints (best K kept), per-iteration ones, the final model.

Everything is saved locally by default (``cloud_save_mode=None``); another mode also
uploads each file through fsspec (see :mod:`..experiment`).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from typing import Any

import torch

from unitrain.compat.aitoolbox.abstract import AbstractExperimentCallback
from unitrain.compat.aitoolbox.experiment import (
    atomic_save,
    checkpoint_payload,
    experiment_dir,
    plain,
    save_hyperparams,
    upload,
)
from unitrain.errors import ConfigError

__all__ = ["ModelCheckpoint", "ModelIterationCheckpoint", "ModelTrainEndSave"]


class _Saver(AbstractExperimentCallback):
    """Shared setup: experiment details, hyperparameters written once, file naming."""

    def __init__(
        self,
        callback_name: str,
        project_name: str | None,
        experiment_name: str | None,
        local_model_result_folder_path: str | None,
        hyperparams: Mapping[str, Any] | None,
        cloud_save_mode: str | None,
        bucket_name: str | None,
        cloud_dir_prefix: str | None,
        source_dirs: tuple[str, ...] | list[str],
        execution_order: int,
    ) -> None:
        super().__init__(
            callback_name,
            project_name,
            experiment_name,
            local_model_result_folder_path,
            cloud_save_mode,
            bucket_name,
            cloud_dir_prefix,
            execution_order=execution_order,
            device_idx_execution=0,
        )
        self.hyperparams = dict(hyperparams or {})
        self.source_dirs = tuple(source_dirs)
        self.hyperparams_saved = False
        self.saved_paths: list[str] = []

    @property
    def _hyperparams_already_saved(self) -> bool:
        """aitoolbox's name of :attr:`hyperparams_saved`."""
        return self.hyperparams_saved

    def on_train_loop_registration(self) -> None:
        optimizer = self.train_loop_obj.optimizer  # None: a native trainer makes it at fit
        if optimizer is not None and not callable(getattr(optimizer, "state_dict", None)):
            raise AttributeError(
                f"{self.callback_name}: the train loop's optimizer "
                f"({type(self.train_loop_obj.optimizer).__name__}) has no state_dict(), which "
                "a checkpoint needs; give it one or do not save checkpoints"
            )
        self.try_infer_experiment_details(infer_cloud_details=True)
        if not self.train_loop_obj.lazy_experiment_save:
            self.save_hyperparams_once()

    def save_hyperparams(self) -> None:
        """aitoolbox's name of :meth:`save_hyperparams_once`."""
        self.save_hyperparams_once()

    def save_hyperparams_once(self) -> None:
        """Write the hyperparameters (and source copies) into the experiment folder once."""
        if self.hyperparams_saved:
            return
        for path in save_hyperparams(experiment_dir(self), self.hyperparams, self.source_dirs):
            upload(self, path)
        self.hyperparams_saved = True

    def file_stem(self) -> str:
        """``model_<experiment>_<timestamp>`` as aitoolbox named model files."""
        return f"model_{self.experiment_name}_{self.train_loop_obj.experiment_timestamp}"

    def save(self, folder: str, filename: str, payload: Any) -> str:
        """Save ``payload`` atomically under the experiment folder, upload it, return the path."""
        self.save_hyperparams_once()
        path = atomic_save(payload, os.path.join(experiment_dir(self), folder, filename))
        self.saved_paths.append(path)
        upload(self, path)
        return path


class ModelCheckpoint(_Saver):
    """Save a checkpoint after every epoch; optionally keep only the best K.

    ``rm_subopt_local_models``: ``False`` keeps every checkpoint; ``True`` keeps the
    ``num_best_checkpoints_kept`` best by ``loss``; a metric name keeps the best by that
    ``train_history`` metric (minimised when its name holds 'loss' or 'error').
    """

    def __init__(
        self,
        project_name: str | None = None,
        experiment_name: str | None = None,
        local_model_result_folder_path: str | None = None,
        hyperparams: Mapping[str, Any] | None = None,
        cloud_save_mode: str | None = None,
        bucket_name: str | None = None,
        cloud_dir_prefix: str | None = None,
        rm_subopt_local_models: bool | str = False,
        num_best_checkpoints_kept: int = 2,
        source_dirs: tuple[str, ...] | list[str] = (),
    ) -> None:
        super().__init__(
            "Model checkpoint at end of epoch",
            project_name,
            experiment_name,
            local_model_result_folder_path,
            hyperparams,
            cloud_save_mode,
            bucket_name,
            cloud_dir_prefix,
            source_dirs,
            execution_order=100,
        )
        if num_best_checkpoints_kept < 1:
            raise ConfigError(
                f"ModelCheckpoint(num_best_checkpoints_kept={num_best_checkpoints_kept}): >= 1"
            )
        self.rm_metric: str | None = (
            None
            if rm_subopt_local_models is False
            else "loss"
            if rm_subopt_local_models is True
            else str(rm_subopt_local_models)
        )
        self.num_best_checkpoints_kept = num_best_checkpoints_kept
        self.kept: list[tuple[float, str]] = []

    def on_epoch_end(self) -> None:
        loop = self.train_loop_obj
        name = f"{self.file_stem()}_E{loop.epoch}.pth"
        path = self.save("checkpoint_model", name, checkpoint_payload(loop, self.hyperparams))
        if self.rm_metric is not None:
            self._keep_best(path)

    def _keep_best(self, path: str) -> None:
        history = self.train_loop_obj.train_history
        metric = str(self.rm_metric)
        if not history.get(metric):
            raise ConfigError(
                f"ModelCheckpoint: rm_subopt_local_models ranks checkpoints by "
                f"{self.rm_metric!r}, which has no value in train_history (it holds "
                f"{sorted(k for k, v in history.items() if v)})"
            )
        value = float(history[metric][-1])
        minimise = "loss" in metric or "error" in metric
        self.kept.append((value if minimise else -value, path))
        self.kept.sort(key=lambda item: item[0])  # once per epoch, not on the hot path
        for _, worse in self.kept[self.num_best_checkpoints_kept :]:
            if os.path.exists(worse):
                os.remove(worse)
        self.kept = self.kept[: self.num_best_checkpoints_kept]


class ModelIterationCheckpoint(ModelCheckpoint):
    """Also save a checkpoint at every ``save_frequency``-th training iteration index (not
    index 0): ``<stem>_E<epoch>_ITER<total_iteration_idx>.pth``, as aitoolbox did. The
    arguments take aitoolbox's positions."""

    def __init__(
        self,
        save_frequency: int,
        project_name: str | None = None,
        experiment_name: str | None = None,
        local_model_result_folder_path: str | None = None,
        hyperparams: Mapping[str, Any] | None = None,
        cloud_save_mode: str | None = None,
        bucket_name: str | None = None,
        cloud_dir_prefix: str | None = None,
        rm_subopt_local_models: bool | str = False,
        num_best_checkpoints_kept: int = 2,
        source_dirs: tuple[str, ...] | list[str] = (),
    ) -> None:
        super().__init__(
            project_name,
            experiment_name,
            local_model_result_folder_path,
            hyperparams,
            cloud_save_mode,
            bucket_name,
            cloud_dir_prefix,
            rm_subopt_local_models,
            num_best_checkpoints_kept,
            source_dirs,
        )
        if (
            isinstance(save_frequency, bool)
            or not isinstance(save_frequency, int)
            or (save_frequency < 1)
        ):
            raise ConfigError(
                f"ModelIterationCheckpoint(save_frequency={save_frequency!r}): an int >= 1"
            )
        self.callback_name = "Model checkpoint every N iterations"
        self.save_frequency = save_frequency

    def on_batch_end(self) -> None:
        loop = self.train_loop_obj
        index = loop.total_iteration_idx
        if index > 0 and index % self.save_frequency == 0:
            payload = checkpoint_payload(loop, self.hyperparams)
            name = f"{self.file_stem()}_E{loop.epoch}_ITER{index}.pth"
            self.save("checkpoint_model", name, payload)


class ModelTrainEndSave(_Saver):
    """At the end of training: evaluate result packages, save the final model and results.

    Writes ``model/<stem>.pth`` (the checkpoint dict), ``results/results_<...>.json``
    (package results per split plus ``train_history``) and ``results/predictions_<split>.pt``
    (true and predicted labels).
    """

    def __init__(
        self,
        project_name: str | None = None,
        experiment_name: str | None = None,
        local_model_result_folder_path: str | None = None,
        hyperparams: Mapping[str, Any] | None = None,
        val_result_package: Any = None,
        test_result_package: Any = None,
        cloud_save_mode: str | None = None,
        bucket_name: str | None = None,
        cloud_dir_prefix: str | None = None,
        source_dirs: tuple[str, ...] | list[str] = (),
    ) -> None:
        super().__init__(
            "Model save at the end of training",
            project_name,
            experiment_name,
            local_model_result_folder_path,
            hyperparams,
            cloud_save_mode,
            bucket_name,
            cloud_dir_prefix,
            source_dirs,
            execution_order=101,
        )
        self.val_result_package = val_result_package
        self.test_result_package = test_result_package
        self.result_packages = {"val": val_result_package, "test": test_result_package}
        self.result_package: Any = None  # the evaluated package(s), set at the end of training
        self.results: dict[str, Any] = {}

    def on_train_loop_registration(self) -> None:
        super().on_train_loop_registration()
        loop = self.train_loop_obj
        for package in self.result_packages.values():
            settle = getattr(package, "set_experiment_dir_path_for_additional_results", None)
            if callable(settle):  # packages that write extra files learn the folder now
                settle(
                    project_name=self.project_name,
                    experiment_name=self.experiment_name,
                    experiment_timestamp=loop.experiment_timestamp,
                    local_model_result_folder_path=self.local_model_result_folder_path,
                )

    def on_train_end(self) -> None:
        loop = self.train_loop_obj
        predictors = {"val": loop.predict_on_validation_set, "test": loop.predict_on_test_set}
        stem = self.file_stem()
        for split, package in self.result_packages.items():
            if package is None:
                continue
            y_pred, y_true, _ = predictors[split]()
            self.results[split] = package.prepare_result_package(
                y_true, y_pred, hyperparameters=self.hyperparams
            )
            self.result_package = package  # the last evaluated one (aitoolbox combined them)
            labels = {"y_true": torch.as_tensor(y_true), "y_pred": torch.as_tensor(y_pred)}
            self.save("results", f"predictions_{split}.pt", labels)
        self.save("model", f"{stem}.pth", checkpoint_payload(loop, self.hyperparams))
        summary = {
            "results": plain(self.results),
            "train_history": plain(dict(loop.train_history.items())),
        }
        path = os.path.join(experiment_dir(self), "results", f"results_{stem}.json")
        with open(path + ".tmp", "w") as handle:
            json.dump(summary, handle, indent=2)
        os.replace(path + ".tmp", path)
        self.saved_paths.append(path)
        upload(self, path)
