"""``aitoolbox.cloud.AWS.model_load``: download a saved model from S3, then load it with
the local loader (``torch.load(weights_only=True)``)."""

from __future__ import annotations

import os
from typing import Any

import torch

from unitrain.compat.aitoolbox.cloud.AWS.data_access import BaseDataLoader
from unitrain.compat.aitoolbox.experiment.local_load.local_model_load import (
    AbstractLocalModelLoader,
    PyTorchLocalModelLoader,
)
from unitrain.compat.aitoolbox.experiment.local_save.folder_create import ExperimentFolder
from unitrain.compat.aitoolbox.experiment.local_save.local_model_save import model_file_name
from unitrain.errors import ConfigTypeError

__all__ = ["BaseModelLoader", "PyTorchS3ModelLoader"]


class BaseModelLoader(BaseDataLoader):
    """Fetches ``<prefix>/<project>/<experiment>_<timestamp>/<model_save_dir>/<file>`` into
    the same local layout, then hands it to ``local_model_loader``."""

    local_model_loader: Any  # the PyTorch loader's init_* methods are used by subclasses

    def __init__(
        self,
        local_model_loader: AbstractLocalModelLoader,
        local_model_result_folder_path: str = "~/project/model_result",
        bucket_name: str = "model-result",
        cloud_dir_prefix: str = "",
    ) -> None:
        if not isinstance(local_model_loader, AbstractLocalModelLoader):
            raise ConfigTypeError(
                "local_model_loader must be an AbstractLocalModelLoader (e.g. "
                f"PyTorchLocalModelLoader), got {type(local_model_loader).__name__}"
            )
        super().__init__(bucket_name, local_model_result_folder_path)
        self.local_model_result_folder_path = self.local_base_data_folder_path
        self.cloud_dir_prefix = cloud_dir_prefix
        self.local_model_loader = local_model_loader

    def load_model(
        self,
        project_name: str,
        experiment_name: str,
        experiment_timestamp: str,
        model_save_dir: str = "checkpoint_model",
        epoch_num: int | None = None,
        **kwargs: Any,
    ) -> Any:
        """Download the model file (unless already local) and load it."""
        experiment = ExperimentFolder.create_base_folder(
            project_name, experiment_name, experiment_timestamp, self.local_model_result_folder_path
        )
        local_folder = os.path.join(experiment, model_save_dir)
        os.makedirs(local_folder, exist_ok=True)
        name = model_file_name(experiment_name, experiment_timestamp, epoch_num, None, ".pth")
        cloud_folder = os.path.join(
            self.cloud_dir_prefix,
            project_name,
            f"{experiment_name}_{experiment_timestamp}",
            model_save_dir,
        )
        self.load_file(os.path.join(cloud_folder, name), os.path.join(local_folder, name))
        return self.local_model_loader.load_model(
            project_name, experiment_name, experiment_timestamp, model_save_dir, epoch_num, **kwargs
        )


class PyTorchS3ModelLoader(BaseModelLoader):
    """S3 download + :class:`PyTorchLocalModelLoader`; the ``init_*`` methods delegate to it."""

    def __init__(
        self,
        local_model_result_folder_path: str = "~/project/model_result",
        bucket_name: str = "model-result",
        cloud_dir_prefix: str = "",
    ) -> None:
        super().__init__(
            PyTorchLocalModelLoader(local_model_result_folder_path),
            local_model_result_folder_path,
            bucket_name,
            cloud_dir_prefix,
        )

    def init_model(
        self, model: torch.nn.Module, used_data_parallel: bool = False
    ) -> torch.nn.Module:
        """Load the downloaded weights into ``model``."""
        loaded: torch.nn.Module = self.local_model_loader.init_model(model, used_data_parallel)
        return loaded

    def init_optimizer(self, optimizer: Any, device: str = "cuda") -> Any:
        """Load the downloaded optimizer state into ``optimizer``."""
        return self.local_model_loader.init_optimizer(optimizer, device)

    def init_scheduler(
        self,
        scheduler_callbacks_list: list[Any],
        ignore_saved: bool = False,
        ignore_missing_saved: bool = False,
    ) -> list[Any]:
        """Load the downloaded scheduler states into the scheduler callbacks."""
        schedulers: list[Any] = self.local_model_loader.init_scheduler(
            scheduler_callbacks_list, ignore_saved, ignore_missing_saved
        )
        return schedulers

    def init_amp(self, amp_scaler: Any) -> Any:
        """Load the downloaded grad scaler state into ``amp_scaler``."""
        return self.local_model_loader.init_amp(amp_scaler)
