"""Built-in plugins, one concept per module."""

from unitrain.core.schedule import ScheduledLR
from unitrain.plugins.amp import MixedPrecision
from unitrain.plugins.checkpoint import Checkpoint
from unitrain.plugins.clipping import GradientClipping
from unitrain.plugins.lr_scheduler import LRScheduler
from unitrain.plugins.metrics_log import MetricsLog
from unitrain.plugins.mlflow_log import MlflowLog
from unitrain.plugins.nan_guard import NanGuard
from unitrain.plugins.progress import ProgressBar
from unitrain.plugins.run_store import RUN_DIR, RunStore
from unitrain.plugins.tensorboard_log import TensorBoardLog

__all__ = [
    "RUN_DIR",
    "Checkpoint",
    "GradientClipping",
    "LRScheduler",
    "MetricsLog",
    "MlflowLog",
    "MixedPrecision",
    "NanGuard",
    "ProgressBar",
    "RunStore",
    "ScheduledLR",
    "TensorBoardLog",
]
