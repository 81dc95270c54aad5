"""Built-in plugins, one concept per module."""

from unitrain.core.schedule import ScheduledLR
from unitrain.plugins.amp import MixedPrecision
from unitrain.plugins.checkpoint import Checkpoint
from unitrain.plugins.clipping import GradientClipping
from unitrain.plugins.early_stopping import EarlyStopping
from unitrain.plugins.lr_monitor import LearningRateMonitor
from unitrain.plugins.lr_scheduler import LRScheduler
from unitrain.plugins.metrics_log import MetricsLog
from unitrain.plugins.mlflow_log import MlflowLog
from unitrain.plugins.model_summary import ModelSummary
from unitrain.plugins.nan_guard import NanGuard
from unitrain.plugins.profiler import Profiler
from unitrain.plugins.progress import ProgressBar
from unitrain.plugins.run_store import RUN_DIR, RunStore
from unitrain.plugins.tensorboard_log import TensorBoardLog

__all__ = [
    "RUN_DIR",
    "Checkpoint",
    "EarlyStopping",
    "GradientClipping",
    "LRScheduler",
    "LearningRateMonitor",
    "MetricsLog",
    "MlflowLog",
    "MixedPrecision",
    "ModelSummary",
    "NanGuard",
    "Profiler",
    "ProgressBar",
    "RunStore",
    "ScheduledLR",
    "TensorBoardLog",
]
