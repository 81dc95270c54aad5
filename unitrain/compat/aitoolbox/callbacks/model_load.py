"""``ModelLoadContinueTraining``: resume from a ``ModelCheckpoint`` of an earlier run."""

from __future__ import annotations

import os
from typing import Any

from unitrain.compat.aitoolbox.abstract import AbstractExperimentCallback
from unitrain.errors import ConfigError
from unitrain.runs.checkpoint import load_weights_only

__all__ = ["ModelLoadContinueTraining"]


class ModelLoadContinueTraining(AbstractExperimentCallback):
    """Restore model, optimizer(s), grad scaler and position at registration; schedulers at
    the start of training. Training continues at the saved epoch + 1.

    The checkpoint is ``<root>/<project>/<experiment>_<saved_experiment_timestamp>/
    <saved_model_dir>/model_<experiment>_<timestamp>_E<epoch_num>.pth``; ``epoch_num=None``
    takes the final model ``model_<experiment>_<timestamp>.pth`` (aitoolbox's rule). It loads
    with ``torch.load(weights_only=True)``.
    """

    def __init__(
        self,
        saved_experiment_timestamp: str,
        saved_model_dir: str = "checkpoint_model",
        epoch_num: int | None = None,
        ignore_saved_schedulers: bool = False,
        ignore_missing_saved_schedulers: bool = False,
        used_data_parallel: bool = False,
        custom_local_loader_class: Any = None,
        project_name: str | None = None,
        experiment_name: str | None = None,
        local_model_result_folder_path: str | None = None,
        cloud_save_mode: str | None = None,
        bucket_name: str | None = None,
        cloud_dir_prefix: str | None = None,
    ) -> None:
        super().__init__(
            "Model loading and initialization from checkpoint",
            project_name,
            experiment_name,
            local_model_result_folder_path,
            cloud_save_mode,
            bucket_name,
            cloud_dir_prefix,
            execution_order=-10,
        )
        self.saved_experiment_timestamp = saved_experiment_timestamp
        self.saved_model_dir = saved_model_dir
        self.epoch_num = epoch_num
        self.ignore_saved_schedulers = ignore_saved_schedulers
        self.ignore_missing_saved_schedulers = ignore_missing_saved_schedulers
        self.used_data_parallel = used_data_parallel
        if custom_local_loader_class is not None:
            raise ConfigError(
                "ModelLoadContinueTraining(custom_local_loader_class=...): custom loader "
                "classes are not supported; the model file is read with "
                "torch.load(weights_only=True)"
            )
        self.checkpoint: dict[str, Any] = {}
        self.checkpoint_path = ""

    def find_checkpoint(self) -> str:
        """The path of the model file to load: the final model (``ModelTrainEndSave``'s
        ``model_<experiment>_<timestamp>.pth``) when ``epoch_num`` is None, else epoch
        ``epoch_num``'s checkpoint, both in ``saved_model_dir``, as aitoolbox looked them up."""
        folder = os.path.join(
            str(self.local_model_result_folder_path),
            str(self.project_name),
            f"{self.experiment_name}_{self.saved_experiment_timestamp}",
            self.saved_model_dir,
        )
        stem = f"model_{self.experiment_name}_{self.saved_experiment_timestamp}"
        name = f"{stem}.pth" if self.epoch_num is None else f"{stem}_E{self.epoch_num}.pth"
        path = os.path.join(folder, name)
        if not os.path.isfile(path):
            found = sorted(os.listdir(folder)) if os.path.isdir(folder) else []
            raise ConfigError(
                f"ModelLoadContinueTraining: no model file {name} in {folder} (found "
                f"{found}); check saved_experiment_timestamp, saved_model_dir ('model' holds "
                "the final model, 'checkpoint_model' the per-epoch ones), epoch_num, "
                "project_name, experiment_name and local_model_result_folder_path"
            )
        return path

    def on_train_loop_registration(self) -> None:
        self.try_infer_experiment_details(infer_cloud_details=False)
        self.checkpoint_path = self.find_checkpoint()
        # weights_only: a model file cannot run code when it is loaded
        self.checkpoint = load_weights_only(self.checkpoint_path, "aitoolbox model checkpoint")
        loop = self.train_loop_obj
        state_dict = self.checkpoint["model_state_dict"]
        if self.used_data_parallel:  # saved from a DataParallel: drop the ``module.`` prefix
            state_dict = {k.removeprefix("module."): v for k, v in state_dict.items()}
        loop.model.load_state_dict(state_dict)
        optimizer: Any = loop.optimizer
        optimizer.load_state_dict(self.checkpoint["optimizer_state_dict"])
        if self.checkpoint.get("amp") is not None:
            loop.amp_scaler_state = self.checkpoint["amp"]
        # As in aitoolbox only the epoch is restored: training continues at the next one.
        loop.epoch = int(self.checkpoint["epoch"]) + 1
        print(f"Loaded {self.checkpoint_path}; continuing at epoch {loop.epoch}.")

    def on_train_begin(self) -> None:
        if self.ignore_saved_schedulers:
            return
        saved = self.checkpoint.get("schedulers_state_dict", [])
        schedulers: list[Any] = self.train_loop_obj.get_schedulers()
        if len(saved) != len(schedulers) and not self.ignore_missing_saved_schedulers:
            raise ConfigError(
                f"ModelLoadContinueTraining: the checkpoint holds {len(saved)} scheduler "
                f"state(s) but {len(schedulers)} scheduler callback(s) are registered; pass "
                "ignore_missing_saved_schedulers=True or ignore_saved_schedulers=True"
            )
        for scheduler, state in zip(schedulers, saved, strict=False):
            scheduler.load_state_dict(state)
