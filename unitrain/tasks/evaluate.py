"""The eval / test meta-algorithm's default stages (PytorchTask's ``PytorchTestable``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from unitrain.core.contract import IMiniBatch
from unitrain.core.result import StepResult
from unitrain.core.stateful_metric import StatefulMetric
from unitrain.hooks.markers import hookimpl
from unitrain.tasks.base import TaskBase

if TYPE_CHECKING:
    from unitrain.core.state import State

__all__ = ["EvalStages"]


class EvalStages(TaskBase):
    """One eval step = forward, losses, metrics; dataset metrics are reset, fed and read."""

    @hookimpl
    def on_eval_start(self, state: State, split: str) -> None:
        for metric in self.dataset_metrics.values():
            metric.reset()

    @hookimpl
    def run_eval_step(self, state: State, batch: Any) -> StepResult | None:
        result = self.compute_step(batch)
        if self.dataset_metrics:
            source = batch if isinstance(batch, IMiniBatch) else result
            for metric in self.dataset_metrics.values():
                metric.update(source)
        return result

    @hookimpl(tryfirst=True)
    def on_eval_end(self, state: State, split: str, metrics: dict[str, float]) -> None:
        for name, metric in self.dataset_metrics.items():
            metric.synchronize()
            if isinstance(metric, StatefulMetric):  # may compute several values
                metrics.update(metric.values())
            else:
                metrics[name] = metric.eval()
