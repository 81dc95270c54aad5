"""t3w's shipped side effects, at t3w's paths (``t3w.plugins``)."""

from unitrain.compat.t3w.plugins.aim import AimSideEffect
from unitrain.compat.t3w.plugins.model_select import SaveBestModelsSideEffect
from unitrain.compat.t3w.plugins.tqdm import TqdmSideEffect
from unitrain.compat.t3w.plugins.warmup import WarmUpSideEffect

__all__ = [
    "AimSideEffect",
    "SaveBestModelsSideEffect",
    "TqdmSideEffect",
    "WarmUpSideEffect",
]
