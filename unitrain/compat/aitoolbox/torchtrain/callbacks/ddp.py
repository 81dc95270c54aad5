"""``aitoolbox.torchtrain.callbacks.ddp``: callbacks for distributed training."""

from unitrain.compat.aitoolbox.callbacks.ddp import DistributedSamplerSetEpoch

__all__ = ["DistributedSamplerSetEpoch"]
