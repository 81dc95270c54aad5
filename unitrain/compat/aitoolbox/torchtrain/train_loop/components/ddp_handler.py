"""``aitoolbox.torchtrain.train_loop.components.ddp_handler``."""

from unitrain.compat.aitoolbox.ddp_handler import DDPHandler

__all__ = ["DDPHandler"]
