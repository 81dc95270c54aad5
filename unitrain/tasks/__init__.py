"""Task stages: the default train / eval / predict meta-algorithms, as overridable mixins."""

from unitrain.tasks.base import TaskBase
from unitrain.tasks.evaluate import EvalStages
from unitrain.tasks.predict import PredictStages
from unitrain.tasks.task import Task
from unitrain.tasks.train import TrainStages

__all__ = ["EvalStages", "PredictStages", "Task", "TaskBase", "TrainStages"]
