"""``aitoolbox.cloud.GoogleCloud.data_access``: upload to / download from a GCS bucket.

``google-cloud-storage`` is imported when a saver or loader is built, so unitrain does not
depend on it; without it the class says what to install.
"""

from __future__ import annotations

import importlib
import os
from typing import Any

from unitrain.errors import ConfigError

__all__ = ["BaseGoogleStorageDataLoader", "BaseGoogleStorageDataSaver", "gcs_bucket"]


def gcs_bucket(bucket_name: str) -> tuple[Any, Any]:
    """``(storage.Client(), client.get_bucket(bucket_name))``, or a ConfigError."""
    try:
        storage = importlib.import_module("google.cloud.storage")
    except ImportError:
        raise ConfigError(
            "saving to Google Cloud Storage uses google-cloud-storage, which is not "
            "installed; pip install google-cloud-storage, or save locally (cloud_save_mode=None)"
        ) from None
    client = storage.Client()
    return client, client.get_bucket(bucket_name)


class BaseGoogleStorageDataSaver:
    """Uploads local files into ``bucket_name``."""

    def __init__(self, bucket_name: str = "model-result") -> None:
        self.bucket_name = bucket_name
        self.gcs_client, self.gcs_bucket = gcs_bucket(bucket_name)

    def save_file(self, local_file_path: str, cloud_file_path: str) -> None:
        """Upload one file to ``cloud_file_path`` inside the bucket."""
        self.gcs_bucket.blob(cloud_file_path).upload_from_filename(
            os.path.expanduser(local_file_path)
        )


class BaseGoogleStorageDataLoader:
    """Downloads files from ``bucket_name`` (a file already on disk is not downloaded again)."""

    def __init__(
        self, bucket_name: str = "dataset-store", local_dataset_folder_path: str = "~/project/data"
    ) -> None:
        self.bucket_name = bucket_name
        self.gcs_client, self.gcs_bucket = gcs_bucket(bucket_name)
        self.local_dataset_folder_path = os.path.expanduser(local_dataset_folder_path)

    def load_file(self, cloud_file_path: str, local_file_path: str) -> None:
        """Download ``cloud_file_path`` to ``local_file_path`` (renamed in when complete)."""
        local_file_path = os.path.expanduser(local_file_path)
        if os.path.isfile(local_file_path):
            print(f"{local_file_path} is already on disk: not downloaded from Google Cloud Storage")
            return
        temporary = local_file_path + ".download"
        self.gcs_bucket.blob(cloud_file_path).download_to_filename(temporary)
        os.replace(temporary, local_file_path)
