"""``aitoolbox.cloud.GoogleCloud.results_save``: the S3 results saver, uploading to GCS."""

from __future__ import annotations

from unitrain.compat.aitoolbox.cloud.AWS.results_save import S3ResultsSaver
from unitrain.compat.aitoolbox.cloud.GoogleCloud.data_access import BaseGoogleStorageDataSaver
from unitrain.compat.aitoolbox.experiment.local_save.local_results_save import LocalResultsSaver

__all__ = ["BaseResultsGoogleStorageSaver", "GoogleStorageResultsSaver"]


class BaseResultsGoogleStorageSaver(BaseGoogleStorageDataSaver):
    """GCS upload with the results folder settings of the S3 saver."""

    def __init__(self, bucket_name: str = "model-result", cloud_dir_prefix: str = "") -> None:
        BaseGoogleStorageDataSaver.__init__(self, bucket_name)
        self.cloud_dir_prefix = cloud_dir_prefix


class GoogleStorageResultsSaver(BaseResultsGoogleStorageSaver, S3ResultsSaver):
    """:class:`S3ResultsSaver`'s saving, with the uploads going to GCS (method order)."""

    def __init__(
        self,
        bucket_name: str = "model-result",
        cloud_dir_prefix: str = "",
        local_model_result_folder_path: str = "~/project/model_result",
    ) -> None:
        BaseResultsGoogleStorageSaver.__init__(self, bucket_name, cloud_dir_prefix)
        self.local_results_saver = LocalResultsSaver(local_model_result_folder_path)
