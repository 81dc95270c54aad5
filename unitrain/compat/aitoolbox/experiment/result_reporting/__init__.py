"""``aitoolbox.experiment.result_reporting``: hyperparameter files, history reports, plots."""
