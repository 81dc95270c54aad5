"""``aitoolbox.experiment.result_reporting.hyperparam_reporter``: the experiment's
hyperparameters as ``hyperparams_list.txt``, its script and zipped source folders."""

from __future__ import annotations

import os
import shutil
from collections.abc import Mapping
from typing import Any

from unitrain.compat.aitoolbox.experiment.local_save.folder_create import ExperimentFolder
from unitrain.compat.aitoolbox.utils.file_system import zip_folder

__all__ = ["HyperParamSourceReporter"]


class HyperParamSourceReporter:
    """Writes into ``<root>/<project>/<experiment>_<timestamp>/`` (created on construction)."""

    def __init__(
        self,
        project_name: str,
        experiment_name: str,
        experiment_timestamp: str,
        local_model_result_folder_path: str,
    ) -> None:
        self.project_name = project_name
        self.experiment_name = experiment_name
        self.experiment_timestamp = experiment_timestamp
        self.local_model_result_folder_path = os.path.expanduser(local_model_result_folder_path)
        self.experiment_dir_path = ExperimentFolder.create_base_folder(
            project_name, experiment_name, experiment_timestamp, local_model_result_folder_path
        )
        self.file_name = "hyperparams_list.txt"
        self.local_hyperparams_file_path = os.path.join(self.experiment_dir_path, self.file_name)

    def save_hyperparams_to_text_file(
        self, hyperparams: Mapping[str, Any], sort_names: bool = False
    ) -> str:
        """One ``name:<TAB>value`` line per hyperparameter; the file's path."""
        names = sorted(hyperparams) if sort_names else list(hyperparams)
        with open(self.local_hyperparams_file_path, "w") as handle:
            for name in names:
                handle.write(f"{name}:\t{hyperparams[name]}\n")
        return self.local_hyperparams_file_path

    def copy_to_cloud_storage(
        self, local_hyperparams_file_path: str, cloud_saver: Any, file_name: str | None = None
    ) -> str:
        """Upload the file with an aitoolbox-style cloud saver; the path in the bucket."""
        folder = cloud_saver.create_experiment_cloud_storage_folder_structure(
            self.project_name, self.experiment_name, self.experiment_timestamp
        ).rsplit("/", 1)[0]
        cloud_path = os.path.join(folder, file_name or self.file_name)
        cloud_saver.save_file(local_hyperparams_file_path, cloud_path)
        return str(cloud_path)

    def save_experiment_python_file(self, hyperparams: Mapping[str, Any]) -> str | None:
        """Copy ``hyperparams["experiment_file_path"]`` into the experiment folder."""
        source = hyperparams.get("experiment_file_path")
        if source is None:
            print(
                "experiment_file_path is not in the hyperparameters: the experiment script "
                "is not copied"
            )
            return None
        if not os.path.isfile(source):
            print(
                f"experiment_file_path {source!r} is not a file (in a notebook, set it by "
                "hand): the experiment script is not copied"
            )
            return None
        target = os.path.join(self.experiment_dir_path, os.path.basename(source))
        shutil.copyfile(source, target)
        return target

    def save_experiment_source_files(self, hyperparams: Mapping[str, Any]) -> str | None:
        """Zip the folders in ``hyperparams["source_dirs_paths"]`` as ``source_code.zip``."""
        sources = hyperparams.get("source_dirs_paths")
        if not isinstance(sources, list | tuple) or not sources:
            return None
        staging = os.path.join(self.experiment_dir_path, "source_code")
        os.mkdir(staging)
        for source in sources:
            source = os.path.expanduser(source)
            shutil.copytree(
                source, os.path.join(staging, os.path.basename(os.path.normpath(source)))
            )
        archive = zip_folder(staging, staging)
        shutil.rmtree(staging)  # only the copies made just above
        return archive
