"""``aitoolbox.experiment.result_package``: metrics over a whole split, in packages."""
