"""``aitoolbox.cloud.AWS.data_access``: uploading files and folders to an S3 bucket.

boto3 is imported when a saver is built, so unitrain does not depend on it; without it the
saver says what to install. Creating the client does not contact AWS: credentials are
needed only when a file is uploaded.
"""

from __future__ import annotations

import importlib
import os
from typing import Any

from unitrain.errors import ConfigError

__all__ = ["BaseDataLoader", "BaseDataSaver", "s3_client"]


def s3_client() -> Any:
    """``boto3.client("s3")``, or a ConfigError naming what to install."""
    try:
        boto3 = importlib.import_module("boto3")
    except ImportError:
        raise ConfigError(
            "saving to S3 uses boto3, which is not installed; pip install boto3, or save "
            "locally (cloud_save_mode=None)"
        ) from None
    return boto3.client("s3")


class BaseDataSaver:
    """Uploads local files into ``bucket_name``."""

    def __init__(self, bucket_name: str = "model-result") -> None:
        self.bucket_name = bucket_name
        self.s3_client = s3_client()

    def save_file(self, local_file_path: str, cloud_file_path: str) -> None:
        """Upload one file to ``cloud_file_path`` inside the bucket."""
        self.s3_client.upload_file(
            os.path.expanduser(local_file_path), self.bucket_name, cloud_file_path
        )

    def save_folder(self, local_folder_path: str, cloud_folder_path: str) -> None:
        """Upload everything inside a local folder (not the folder itself) under
        ``cloud_folder_path``."""
        for root, _, files in os.walk(local_folder_path):
            for name in files:
                local = os.path.join(root, name)
                key = os.path.join(cloud_folder_path, os.path.relpath(local, local_folder_path))
                self.s3_client.upload_file(local, self.bucket_name, key)


class BaseDataLoader:
    """Downloads files from ``bucket_name`` (a file already on disk is not downloaded again)."""

    def __init__(
        self,
        bucket_name: str = "dataset-store",
        local_base_data_folder_path: str = "~/project/data",
    ) -> None:
        self.bucket_name = bucket_name
        self.s3_client = s3_client()
        self.local_base_data_folder_path = os.path.expanduser(local_base_data_folder_path)

    def load_file(self, cloud_file_path: str, local_file_path: str) -> None:
        """Download ``cloud_file_path`` from the bucket to ``local_file_path``."""
        local_file_path = os.path.expanduser(local_file_path)
        if os.path.isfile(local_file_path):
            print(f"{local_file_path} is already on disk: not downloaded from S3")
            return
        # Download beside the target and rename, so an interrupted download leaves no file
        # that a later call would take for a complete one.
        temporary = local_file_path + ".download"
        self.s3_client.download_file(self.bucket_name, cloud_file_path, temporary)
        os.replace(temporary, local_file_path)
