"""``aitoolbox.torchtrain.multi_loss_optim``: several losses and optimizers."""

from unitrain.compat.aitoolbox.multi_loss import MultiLoss, MultiOptimizer

__all__ = ["MultiLoss", "MultiOptimizer"]
