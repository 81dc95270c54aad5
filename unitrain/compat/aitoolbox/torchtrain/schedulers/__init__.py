"""``aitoolbox.torchtrain.schedulers``: learning-rate schedulers as callbacks."""
