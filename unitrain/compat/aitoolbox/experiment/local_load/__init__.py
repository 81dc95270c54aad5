"""``aitoolbox.experiment.local_load``: reading saved models back (weights only)."""
