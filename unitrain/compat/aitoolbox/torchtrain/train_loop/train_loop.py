"""``aitoolbox.torchtrain.train_loop.train_loop``: ``TrainLoop`` on the unitrain engine."""

from unitrain.compat.aitoolbox.train_loop import TrainLoop

__all__ = ["TrainLoop"]
