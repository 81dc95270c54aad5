"""``aitoolbox.cloud.AWS``: S3 data, model and results savers."""
