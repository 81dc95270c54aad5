"""Tracking train loops: ``TrainLoopCheckpoint``, ``TrainLoopEndSave``,
``TrainLoopCheckpointEndSave``.

They carry the experiment details (project, experiment, local folder, hyperparameters) and
put their saving callbacks in the handler's cache at construction; the first ``fit`` (or
``callbacks_handler.register_callbacks``) registers them. Unlike aitoolbox (which defaulted to an
S3 bucket) they save **locally by default**: ``cloud_save_mode=None``. As in aitoolbox,
``hyperparams["experiment_file_path"]`` defaults to the file of the script that built the
loop, which is copied into the experiment folder.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping, Sequence
from typing import Any

import torch

from unitrain.compat.aitoolbox.callbacks.model_save import (
    ModelCheckpoint,
    ModelIterationCheckpoint,
    ModelTrainEndSave,
)
from unitrain.compat.aitoolbox.model import MultiOptimizer
from unitrain.compat.aitoolbox.train_loop import TrainLoop
from unitrain.errors import ConfigError, UnitrainError

__all__ = ["TrainLoopCheckpoint", "TrainLoopCheckpointEndSave", "TrainLoopEndSave"]


class ResultPackageTypeError(UnitrainError, TypeError):
    """A result package that is not an ``AbstractResultPackage`` (aitoolbox: TypeError)."""


_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))


def _caller_file() -> str | None:
    """The first source file up the stack that is not part of this package."""
    frame = sys._getframe(1)
    while frame is not None and os.path.abspath(frame.f_code.co_filename).startswith(_PACKAGE_DIR):
        frame = frame.f_back  # type: ignore[assignment]
    return None if frame is None else os.path.abspath(frame.f_code.co_filename)


class _TrackingLoop(TrainLoop):
    """A train loop with experiment details and auto-registered saving callbacks."""

    def __init__(
        self,
        model: torch.nn.Module,
        train_loader: Any,
        validation_loader: Any,
        test_loader: Any,
        optimizer: torch.optim.Optimizer | MultiOptimizer,
        criterion: Any,
        project_name: str,
        experiment_name: str,
        local_model_result_folder_path: str,
        hyperparams: Mapping[str, Any],
        *,
        val_result_package: Any = None,
        test_result_package: Any = None,
        cloud_save_mode: str | None = None,
        bucket_name: str | None = None,
        cloud_dir_prefix: str | None = "",
        source_dirs: Sequence[str] = (),
        rm_subopt_local_models: bool | str = False,
        num_best_checkpoints_kept: int = 2,
        iteration_save_freq: int = 0,
        checkpoints: bool,
        end_save: bool,
        **loop_options: Any,
    ) -> None:
        super().__init__(
            model,
            train_loader,
            validation_loader,
            test_loader,
            optimizer,
            criterion,
            **loop_options,
        )
        if not isinstance(hyperparams, Mapping):
            raise ConfigError(
                f"{type(self).__name__}(hyperparams=...): expected a dict, got "
                f"{type(hyperparams).__name__}"
            )
        for label, value in (("project_name", project_name), ("experiment_name", experiment_name)):
            if not isinstance(value, str) or not value:
                raise ConfigError(f"{type(self).__name__}({label}={value!r}): a non-empty string")
        self.project_name = project_name
        self.experiment_name = experiment_name
        self.local_model_result_folder_path = os.path.expanduser(local_model_result_folder_path)
        self.hyperparams = dict(hyperparams)
        if "experiment_file_path" not in self.hyperparams:
            self.hyperparams["experiment_file_path"] = _caller_file()
        self.cloud_save_mode = cloud_save_mode
        self.bucket_name = bucket_name
        self.cloud_dir_prefix = cloud_dir_prefix
        self.source_dirs = tuple(source_dirs)
        self.rm_subopt_local_models = rm_subopt_local_models
        self.num_best_checkpoints_kept = num_best_checkpoints_kept
        self.iteration_save_freq = iteration_save_freq
        self.val_result_package = val_result_package
        self.test_result_package = test_result_package
        self.checkpoints = checkpoints
        self.end_save = end_save
        if (
            isinstance(iteration_save_freq, bool)
            or not isinstance(iteration_save_freq, int)
            or (iteration_save_freq < 0)
        ):
            raise ConfigError(
                f"{type(self).__name__}(iteration_save_freq={iteration_save_freq!r}): an int >= 0 "
                "(0: a checkpoint per epoch only)"
            )
        if end_save:
            self._check_result_packages()
        # As in aitoolbox the saving callbacks wait in the handler's cache and are registered
        # with the callbacks of the first fit.
        self.callbacks_handler.register_callbacks(self.tracking_callbacks(), cache_callbacks=True)

    def _check_result_packages(self) -> None:
        from unitrain.compat.aitoolbox.result_packages import AbstractResultPackage

        packages = {"val": self.val_result_package, "test": self.test_result_package}
        if all(package is None for package in packages.values()):
            raise ConfigError(
                f"{type(self).__name__}: both val_result_package and test_result_package are "
                "None; give at least one (or use TrainLoopCheckpoint)"
            )
        for split, loader in (("val", "validation_loader"), ("test", "test_loader")):
            package = packages[split]
            if package is not None and getattr(self, loader) is None:
                raise ConfigError(
                    f"{type(self).__name__}: {split}_result_package was given but no {loader}"
                )
            if package is not None and not isinstance(package, AbstractResultPackage):
                raise ResultPackageTypeError(
                    f"{type(self).__name__}({split}_result_package=...): "
                    f"{type(package).__name__} is not an AbstractResultPackage"
                )

    def tracking_callbacks(self) -> list[Any]:
        """The saving callbacks this loop adds on its first fit."""
        experiment: dict[str, Any] = {
            "project_name": self.project_name,
            "experiment_name": self.experiment_name,
            "local_model_result_folder_path": self.local_model_result_folder_path,
            "hyperparams": self.hyperparams,
            "cloud_save_mode": self.cloud_save_mode,
            "bucket_name": self.bucket_name,
            "cloud_dir_prefix": self.cloud_dir_prefix,
            "source_dirs": self.source_dirs,
        }
        made: list[Any] = []
        if self.end_save:
            made.append(
                ModelTrainEndSave(
                    val_result_package=self.val_result_package,
                    test_result_package=self.test_result_package,
                    **experiment,
                )
            )
        if self.checkpoints:
            options = dict(
                experiment,
                rm_subopt_local_models=self.rm_subopt_local_models,
                num_best_checkpoints_kept=self.num_best_checkpoints_kept,
            )
            if self.iteration_save_freq:
                made.append(ModelIterationCheckpoint(self.iteration_save_freq, **options))
            else:
                made.append(ModelCheckpoint(**options))
        return made


class TrainLoopCheckpoint(_TrackingLoop):
    """Saves a checkpoint every epoch (or every ``iteration_save_freq`` iterations too)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, checkpoints=True, end_save=False, **kwargs)


class TrainLoopEndSave(_TrackingLoop):
    """Saves the final model and the result packages' results at the end of training."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, checkpoints=False, end_save=True, **kwargs)


class TrainLoopCheckpointEndSave(_TrackingLoop):
    """Both: per-epoch checkpoints and the final save."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, checkpoints=True, end_save=True, **kwargs)
