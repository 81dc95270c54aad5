"""``aitoolbox.cloud.GoogleCloud``: Google Cloud Storage savers and model loader."""
