"""``aitoolbox.cloud``: saving experiments to (and loading models from) AWS S3 and Google
Cloud Storage. boto3 / google-cloud-storage are imported when a saver is built, so unitrain
depends on neither; without them the saver says what to install."""

s3_available_options = ["s3", "aws_s3", "aws"]
gcs_available_options = ["gcs", "google_storage", "google storage"]
