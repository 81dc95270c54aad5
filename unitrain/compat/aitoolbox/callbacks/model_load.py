"""``ModelLoadContinueTraining``: resume from a ``ModelCheckpoint`` of an earlier run."""

from __future__ import annotations

import os
import re
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
    takes the latest epoch. It loads with ``torch.load(weights_only=True)``.
    """

    def __init__(
        self,
        saved_experiment_timestamp: str,
        saved_model_dir: str = "checkpoint_model",
        epoch_num: int | None = None,
        ignore_saved_schedulers: bool = False,
        ignore_missing_saved_schedulers: bool = False,
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
        self.checkpoint: dict[str, Any] = {}
        self.checkpoint_path = ""

    def find_checkpoint(self) -> str:
        """The path of the checkpoint to load."""
        folder = os.path.join(
            str(self.local_model_result_folder_path),
            str(self.project_name),
            f"{self.experiment_name}_{self.saved_experiment_timestamp}",
            self.saved_model_dir,
        )
        stem = f"model_{self.experiment_name}_{self.saved_experiment_timestamp}_E"
        pattern = re.compile(re.escape(stem) + r"(\d+)\.pth$")
        epochs = {}
        if os.path.isdir(folder):
            for name in os.listdir(folder):
                match = pattern.match(name)
                if match:
                    epochs[int(match.group(1))] = os.path.join(folder, name)
        wanted = max(epochs) if self.epoch_num is None and epochs else self.epoch_num
        if wanted not in epochs:
            raise ConfigError(
                f"ModelLoadContinueTraining: no checkpoint for epoch "
                f"{'latest' if self.epoch_num is None else self.epoch_num} in {folder} "
                f"(found epochs {sorted(epochs)}); check saved_experiment_timestamp, "
                "project_name, experiment_name and local_model_result_folder_path"
            )
        return epochs[wanted]

    def on_train_loop_registration(self) -> None:
        self.try_infer_experiment_details(infer_cloud_details=False)
        self.checkpoint_path = self.find_checkpoint()
        self.checkpoint = load_weights_only(self.checkpoint_path, "aitoolbox model checkpoint")
        loop = self.train_loop_obj
        loop.model.load_state_dict(self.checkpoint["model_state_dict"])
        optimizer: Any = loop.optimizer
        optimizer.load_state_dict(self.checkpoint["optimizer_state_dict"])
        if self.checkpoint.get("amp") is not None:
            loop.amp_scaler_state = self.checkpoint["amp"]
        state = loop.state
        state.epoch = int(self.checkpoint["epoch"]) + 1
        state.micro_step = int(self.checkpoint["iteration_idx"]) + 1
        state.global_step = state.micro_step // loop.grad_accumulation
        print(f"Loaded checkpoint {self.checkpoint_path}; continuing at epoch {state.epoch}.")

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
