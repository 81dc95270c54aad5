"""``aitoolbox.cloud.GoogleCloud.model_save``: the S3 model savers, uploading to GCS."""

from __future__ import annotations

from unitrain.compat.aitoolbox.cloud.AWS.model_save import KerasS3ModelSaver, PyTorchS3ModelSaver
from unitrain.compat.aitoolbox.cloud.GoogleCloud.data_access import BaseGoogleStorageDataSaver
from unitrain.compat.aitoolbox.experiment.local_save.local_model_save import (
    KerasLocalModelSaver,
    PyTorchLocalModelSaver,
)

__all__ = [
    "BaseModelGoogleStorageSaver",
    "KerasGoogleStorageModelSaver",
    "PyTorchGoogleStorageModelSaver",
]


class BaseModelGoogleStorageSaver(BaseGoogleStorageDataSaver):
    """GCS upload with the model folder settings of the S3 savers."""

    def __init__(
        self,
        bucket_name: str = "model-result",
        cloud_dir_prefix: str = "",
        checkpoint_model: bool = False,
    ) -> None:
        BaseGoogleStorageDataSaver.__init__(self, bucket_name)
        self.cloud_dir_prefix = cloud_dir_prefix
        self.checkpoint_model = checkpoint_model


class PyTorchGoogleStorageModelSaver(BaseModelGoogleStorageSaver, PyTorchS3ModelSaver):
    """:class:`PyTorchS3ModelSaver`'s saving, with the upload going to GCS (method order)."""

    def __init__(
        self,
        bucket_name: str = "model-result",
        cloud_dir_prefix: str = "",
        local_model_result_folder_path: str = "~/project/model_result",
        checkpoint_model: bool = False,
    ) -> None:
        BaseModelGoogleStorageSaver.__init__(self, bucket_name, cloud_dir_prefix, checkpoint_model)
        self.pytorch_local_saver = PyTorchLocalModelSaver(
            local_model_result_folder_path, checkpoint_model
        )


class KerasGoogleStorageModelSaver(BaseModelGoogleStorageSaver, KerasS3ModelSaver):
    """Keras is not supported: built for import compatibility, saving raises."""

    def __init__(
        self,
        bucket_name: str = "model-result",
        cloud_dir_prefix: str = "",
        local_model_result_folder_path: str = "~/project/model_result",
        checkpoint_model: bool = False,
    ) -> None:
        BaseModelGoogleStorageSaver.__init__(self, bucket_name, cloud_dir_prefix, checkpoint_model)
        self.keras_local_saver = KerasLocalModelSaver(
            local_model_result_folder_path, checkpoint_model
        )
