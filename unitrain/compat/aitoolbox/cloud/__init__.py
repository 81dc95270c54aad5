"""``aitoolbox.cloud``: saving experiments to AWS S3 (through boto3, loaded when used).

Google Cloud Storage savers are not provided; the tracking callbacks upload to GCS through
fsspec (``cloud_save_mode="gcs"`` with gcsfs installed).
"""

s3_available_options = ["s3", "aws_s3", "aws"]
gcs_available_options = ["gcs", "google_storage", "google storage"]
