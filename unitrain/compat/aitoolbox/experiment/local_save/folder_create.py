"""``aitoolbox.experiment.local_save.folder_create``: the experiment folder,
``<root>/<project>/<experiment>_<timestamp>``."""

from __future__ import annotations

import os

__all__ = ["ExperimentFolder"]


class ExperimentFolder:
    """Paths (and creation) of an experiment's base folder."""

    @staticmethod
    def create_base_folder(
        project_name: str,
        experiment_name: str,
        experiment_timestamp: str,
        local_model_result_folder_path: str,
    ) -> str:
        """Create the experiment folder (and the root and project folders on the way, which
        aitoolbox required to exist); its path."""
        _, experiment = ExperimentFolder.get_base_folder_paths(
            project_name, experiment_name, experiment_timestamp, local_model_result_folder_path
        )
        os.makedirs(experiment, exist_ok=True)
        return experiment

    @staticmethod
    def get_base_folder_paths(
        project_name: str,
        experiment_name: str,
        experiment_timestamp: str,
        local_model_result_folder_path: str,
    ) -> tuple[str, str]:
        """``(project folder, experiment folder)`` paths; nothing is created."""
        project = os.path.join(os.path.expanduser(local_model_result_folder_path), project_name)
        return project, os.path.join(project, f"{experiment_name}_{experiment_timestamp}")
