"""``aitoolbox.experiment.local_load.local_model_load``: read a saved model dict back and
restore a model, optimizer, schedulers and grad scaler from it.

Files load with ``torch.load(weights_only=True)``: tensors and plain data only, so a
model file cannot run code when read. A file holding anything else is refused with a
:class:`~unitrain.errors.CheckpointError` that names it.
"""

from __future__ import annotations

import os
import pickle
import zipfile
from abc import ABC, abstractmethod
from collections import OrderedDict
from typing import Any

import torch

from unitrain.compat.aitoolbox.experiment.local_save.folder_create import ExperimentFolder
from unitrain.compat.aitoolbox.experiment.local_save.local_model_save import model_file_name
from unitrain.errors import CheckpointError, ConfigError, StateError

__all__ = ["AbstractLocalModelLoader", "PyTorchLocalModelLoader", "load_weights_only"]


def load_weights_only(path: str, map_location: Any = None) -> Any:
    """``torch.load(path, weights_only=True)``, with errors that name the file."""
    if not os.path.isfile(path):
        raise CheckpointError(
            f"model file {path!r} does not exist; check the project and experiment names, "
            "the timestamp and the epoch"
        )
    if not zipfile.is_zipfile(path):
        # torch.save has written zip archives since PyTorch 1.6; anything else is a bare
        # pickle (or not a model at all), which is not read.
        raise CheckpointError(
            f"model file {path!r} is not a torch.save archive; unitrain reads only files "
            "written by torch.save (PyTorch >= 1.6), never bare pickles"
        )
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as error:
        raise CheckpointError(
            f"model file {path!r} holds objects other than tensors and plain data, which "
            "unitrain does not unpickle (that could run code); save model and optimizer "
            f"state_dicts instead of whole objects ({error})"
        ) from None
    except (RuntimeError, EOFError, KeyError, ValueError) as error:
        raise CheckpointError(
            f"model file {path!r} is not a readable torch file: {error}"
        ) from None


class AbstractLocalModelLoader(ABC):
    """The loading interface."""

    @abstractmethod
    def load_model(
        self,
        project_name: str,
        experiment_name: str,
        experiment_timestamp: str,
        model_save_dir: str,
        epoch_num: int | None = None,
        **kwargs: Any,
    ) -> Any:
        """Read a model saved in the experiment folder structure."""


class PyTorchLocalModelLoader(AbstractLocalModelLoader):
    """Loads ``model_<experiment>_<timestamp>[_E<epoch>].pth`` saved by the train loop."""

    def __init__(self, local_model_result_folder_path: str) -> None:
        self.local_model_result_folder_path = os.path.expanduser(local_model_result_folder_path)
        self.model_representation: dict[str, Any] | None = None

    def load_model(  # type: ignore[override]
        self,
        project_name: str,
        experiment_name: str,
        experiment_timestamp: str,
        model_save_dir: str = "checkpoint_model",
        epoch_num: int | None = None,
        map_location: Any = None,
    ) -> dict[str, Any]:
        """The saved dict of the final model (``epoch_num=None``) or of epoch ``epoch_num``."""
        _, experiment = ExperimentFolder.get_base_folder_paths(
            project_name, experiment_name, experiment_timestamp, self.local_model_result_folder_path
        )
        name = model_file_name(experiment_name, experiment_timestamp, epoch_num, None, ".pth")
        representation = self.load_model_from_path(
            os.path.join(experiment, model_save_dir, name), map_location
        )
        # Models saved before schedulers were tracked have no entry for them.
        representation.setdefault("schedulers_state_dict", [])
        return representation

    def load_model_from_path(self, model_path: str, map_location: Any = None) -> dict[str, Any]:
        """The saved dict at ``model_path`` (any folder layout)."""
        representation = load_weights_only(model_path, map_location)
        if not isinstance(representation, dict):
            raise CheckpointError(
                f"model file {model_path!r} holds a {type(representation).__name__}, not the "
                "model dict aitoolbox saves (model_state_dict, optimizer_state_dict, ...)"
            )
        self.model_representation = representation
        return representation

    def check_if_model_loaded(self) -> dict[str, Any]:
        """The loaded dict; an error before :meth:`load_model`."""
        if self.model_representation is None:
            raise StateError(
                "PyTorchLocalModelLoader: no model loaded yet; call load_model() first"
            )
        return self.model_representation

    def init_model(
        self, model: torch.nn.Module, used_data_parallel: bool = False
    ) -> torch.nn.Module:
        """Load the saved weights into ``model`` (strip ``module.`` from DataParallel keys)."""
        state = self.check_if_model_loaded()["model_state_dict"]
        if used_data_parallel:
            prefix = "module."
            state = OrderedDict(
                (k[len(prefix) :] if k.startswith(prefix) else k, v) for k, v in state.items()
            )
        model.load_state_dict(state)
        return model

    def init_optimizer(self, optimizer: Any, device: str = "cuda") -> Any:
        """Load the saved optimizer state into ``optimizer``."""
        optimizer.load_state_dict(self.check_if_model_loaded()["optimizer_state_dict"])
        return optimizer

    def init_scheduler(
        self,
        scheduler_callbacks_list: list[Any],
        ignore_saved: bool = False,
        ignore_missing_saved: bool = False,
    ) -> list[Any]:
        """Load the saved scheduler states into the given scheduler callbacks, in order."""
        from unitrain.compat.aitoolbox.callbacks.schedulers import AbstractScheduler

        saved = self.check_if_model_loaded().get("schedulers_state_dict") or []
        if not saved and scheduler_callbacks_list:
            if not ignore_missing_saved:
                raise ConfigError(
                    "the loaded model has no scheduler states but schedulers were given; pass "
                    "ignore_missing_saved=True to start them fresh"
                )
            return scheduler_callbacks_list
        if saved and not scheduler_callbacks_list:
            if not ignore_saved:
                raise ConfigError(
                    f"the loaded model has {len(saved)} scheduler states but no schedulers were "
                    "given; pass the same schedulers, or ignore_saved=True to drop the states"
                )
            return scheduler_callbacks_list
        if len(saved) != len(scheduler_callbacks_list):
            raise ConfigError(
                f"{len(scheduler_callbacks_list)} schedulers were given but the loaded model has "
                f"{len(saved)} scheduler states; give the schedulers it was trained with"
            )
        for scheduler, state in zip(scheduler_callbacks_list, saved, strict=True):
            if not isinstance(scheduler, AbstractScheduler):
                raise ConfigError(
                    f"{type(scheduler).__name__} is not an AbstractScheduler callback"
                )
            scheduler.load_state_dict(state)
        return scheduler_callbacks_list

    def init_amp(self, amp_scaler: Any) -> Any:
        """Load the saved grad scaler state into ``amp_scaler``."""
        amp_scaler.load_state_dict(self.check_if_model_loaded()["amp"])
        return amp_scaler
