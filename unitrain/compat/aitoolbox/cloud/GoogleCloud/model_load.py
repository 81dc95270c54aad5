"""``aitoolbox.cloud.GoogleCloud.model_load``: the S3 model loader, downloading from GCS."""

from __future__ import annotations

from typing import Any

from unitrain.compat.aitoolbox.cloud.AWS.model_load import PyTorchS3ModelLoader
from unitrain.compat.aitoolbox.cloud.GoogleCloud.data_access import BaseGoogleStorageDataLoader
from unitrain.compat.aitoolbox.experiment.local_load.local_model_load import (
    AbstractLocalModelLoader,
    PyTorchLocalModelLoader,
)
from unitrain.errors import ConfigTypeError

__all__ = ["BaseModelGoogleStorageLoader", "PyTorchGoogleStorageModelLoader"]


class BaseModelGoogleStorageLoader(BaseGoogleStorageDataLoader):
    """GCS download with the layout of the S3 model loader."""

    local_model_loader: Any

    def __init__(
        self,
        local_model_loader: AbstractLocalModelLoader,
        local_model_result_folder_path: str = "~/project/model_result",
        bucket_name: str = "model-result",
        cloud_dir_prefix: str = "",
    ) -> None:
        if not isinstance(local_model_loader, AbstractLocalModelLoader):
            raise ConfigTypeError(
                "local_model_loader must be an AbstractLocalModelLoader, got "
                f"{type(local_model_loader).__name__}"
            )
        BaseGoogleStorageDataLoader.__init__(self, bucket_name, local_model_result_folder_path)
        self.local_model_result_folder_path = self.local_dataset_folder_path
        self.cloud_dir_prefix = cloud_dir_prefix
        self.local_model_loader = local_model_loader


class PyTorchGoogleStorageModelLoader(BaseModelGoogleStorageLoader, PyTorchS3ModelLoader):
    """:class:`PyTorchS3ModelLoader`'s loading, with the download coming from GCS."""

    def __init__(
        self,
        local_model_result_folder_path: str = "~/project/model_result",
        bucket_name: str = "model-result",
        cloud_dir_prefix: str = "",
    ) -> None:
        BaseModelGoogleStorageLoader.__init__(
            self,
            PyTorchLocalModelLoader(local_model_result_folder_path),
            local_model_result_folder_path,
            bucket_name,
            cloud_dir_prefix,
        )
