"""``aitoolbox.experiment.local_save``: the experiment folder, model and results files."""
