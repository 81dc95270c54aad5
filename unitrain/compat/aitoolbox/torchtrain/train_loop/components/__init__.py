"""``aitoolbox.torchtrain.train_loop.components``: the train loop's parts."""
