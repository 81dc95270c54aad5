"""``aitoolbox.experiment.core_metrics``: single metrics computed on a whole split."""
