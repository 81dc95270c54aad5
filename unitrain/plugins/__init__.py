"""Built-in plugins, one concept per module.

Names load on first use (PEP 562): ``from unitrain.plugins import Checkpoint`` imports the
checkpoint plugin's module and no other, so ``unitrain fit`` imports only the plugins a
run enables (and the ones it adds itself: run store, checkpoint, progress).
"""

from typing import TYPE_CHECKING

from unitrain.lazy import lazy_exports

if TYPE_CHECKING:
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

_LAZY = {
    "Checkpoint": "unitrain.plugins.checkpoint",
    "EarlyStopping": "unitrain.plugins.early_stopping",
    "GradientClipping": "unitrain.plugins.clipping",
    "LRScheduler": "unitrain.plugins.lr_scheduler",
    "LearningRateMonitor": "unitrain.plugins.lr_monitor",
    "MetricsLog": "unitrain.plugins.metrics_log",
    "MixedPrecision": "unitrain.plugins.amp",
    "MlflowLog": "unitrain.plugins.mlflow_log",
    "ModelSummary": "unitrain.plugins.model_summary",
    "NanGuard": "unitrain.plugins.nan_guard",
    "Profiler": "unitrain.plugins.profiler",
    "ProgressBar": "unitrain.plugins.progress",
    "RUN_DIR": "unitrain.plugins.run_store",
    "RunStore": "unitrain.plugins.run_store",
    "ScheduledLR": "unitrain.core.schedule",
    "TensorBoardLog": "unitrain.plugins.tensorboard_log",
}


__getattr__, __dir__ = lazy_exports(__name__, _LAZY, globals())


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
