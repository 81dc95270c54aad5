"""The predict meta-algorithm's default stage (PytorchTask's ``PytorchEvaluable``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from unitrain.core.contract import IMiniBatch
from unitrain.hooks.markers import hookimpl
from unitrain.tasks.base import TaskBase

if TYPE_CHECKING:
    from unitrain.core.state import State

__all__ = ["PredictStages"]


class PredictStages(TaskBase):
    """One predict step = the model's outputs (a minibatch: the filled minibatch)."""

    @hookimpl
    def run_predict_step(self, state: State, batch: Any) -> Any:
        return self.predict_batch(batch)

    def predict_batch(self, batch: Any) -> Any:
        """The predictions of one prepared batch; override for post-processing."""
        if isinstance(batch, IMiniBatch):
            self.forward(batch)
            return batch
        inputs, _ = self.split_batch(batch)
        return self.forward(inputs)
